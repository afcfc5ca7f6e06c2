/**
 * The flags of `headstart train` and `headstart compare`: their parseArgs definitions, their
 * help lines, and their conversion into train options. Every value is checked here (the
 * CLI's boundary) and a bad one is a usage error that names the flag and the valid choices.
 */
import { DEVICES, MODES, OPTIMIZERS, RECIPE_NAMES, SCHEDULERS, type TrainOptions } from '../config.js';
import { choiceFlag, intFlag, numberFlag, UsageError } from './usage.js';

export const TRAIN_FLAGS = {
  model: { type: 'string' },
  weights: { type: 'string' },
  mode: { type: 'string' },
  recipe: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  'weight-decay': { type: 'string' },
  scheduler: { type: 'string' },
  'step-size': { type: 'string' },
  gamma: { type: 'string' },
  'eta-min': { type: 'string' },
  'max-lr': { type: 'string' },
  'pct-start': { type: 'string' },
  'label-smoothing': { type: 'string' },
  'class-weights': { type: 'string' },
  'freeze-bn': { type: 'boolean' },
  'bn-momentum': { type: 'string' },
  'unfreeze-last': { type: 'string' },
  'val-split': { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  'early-stop': { type: 'string' },
  'feature-views': { type: 'string' },
  'input-size': { type: 'string' },
  'no-augment': { type: 'boolean' },
  'cache-dir': { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const COMPARE_FLAGS = (() => {
  const { mode: _m, resume: _r, ...rest } = TRAIN_FLAGS;
  return rest;
})();

export const TRAIN_FLAG_HELP = `model and weights:
  --model NAME          architecture (default resnet18; see \`headstart models\`);
                        mobilenet_v2_offline needs no download
  --weights FILE        .pth / .safetensors to start from, or \`none\` for random init
                        (default: the model's pretrained weights, downloaded and cached)
  --mode M              finetune (default), features, or auto (decides from the data
                        and a quick linear probe, and says why)
  --recipe R            torchvision (default) or floydhub; explicit flags override it
  --unfreeze-last K     fine-tune only the last K stages (and the new classifier)
  --freeze-bn           keep BatchNorm statistics fixed while fine-tuning
  --bn-momentum X       how fast BatchNorm statistics follow the data while fine-tuning
                        (torch convention; default: the model's own, 0.1 for imported ones)
  --input-size N        crop side fed to the network (default: the model's, e.g. 224)

optimisation (defaults: the recipe's):
  --epochs N            default 25
  --batch-size N        default 8
  --optimizer O         sgd (default) or adamw
  --lr X                default 1e-3 (floydhub: 1e-4)
  --momentum X          SGD momentum (default 0.9; floydhub features: 0); AdamW's beta1
  --weight-decay X      default 0 (AdamW: 0.01)
  --scheduler S         step (default), cosine, onecycle or none
  --step-size N         StepLR: epochs between decays (default 7)
  --gamma X             StepLR: decay factor (default 0.1)
  --eta-min X           cosine: final lr (default 0)
  --max-lr X            one-cycle: peak lr (default 10 x lr)
  --pct-start X         one-cycle: fraction of steps warming up (default 0.3)
  --label-smoothing X   default 0
  --class-weights W     auto (inverse class frequency) or one weight per class: 1,2.5,1
  --early-stop N        stop when val accuracy has not improved for N epochs

data:
  --val-split X         val fraction when the root has no val/ folder (default 0.2)
  --no-augment          train on the eval transform (no RandomResizedCrop / flip)
  --feature-views K     features mode: cache K augmented views per image
                        (default 0: one un-augmented view, extracted once)
  --cache-dir DIR       feature cache (default $HEADSTART_HOME/features or ~/.cache/headstart)

run:
  --seed N              default 0: same seed, same run
  --threads N           ONNX Runtime threads (default: all cores)
  --device D            cpu (default) or cuda (needs ONNX Runtime's CUDA provider)
  --out DIR             output folder (default runs/<time>-<model>-<mode>)
  --json                one JSON object per line on stdout (epoch events, then done)
  --verbose             stack traces on errors
  -h, --help            this help`;

export const RESUME_HELP = `  --resume [DIR]        continue the interrupted run in DIR (or in --out) from its checkpoint`;

export type TrainFlagValues = { [K in keyof typeof TRAIN_FLAGS]?: (typeof TRAIN_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/** `--resume` may stand alone (resume --out): give it an empty value so parseArgs accepts it. */
export function normaliseResume(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--resume' && (i + 1 >= argv.length || argv[i + 1].startsWith('-'))) out.push('--resume=');
    else out.push(a);
  }
  return out;
}

function classWeightsFlag(value: string | undefined): 'auto' | number[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto') return 'auto';
  const parts = value.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.length === 0 || parts.some((p) => p === '') || nums.some((n) => !Number.isFinite(n) || n <= 0)) {
    throw new UsageError(`--class-weights must be \`auto\` or positive numbers separated by commas (one per class), found \`${value}\``);
  }
  return nums;
}

/** Train options from parsed flags (only the flags given: the recipe fills the rest). */
export function trainOptionsFromFlags(v: TrainFlagValues): TrainOptions {
  const o: TrainOptions = {
    ...(v.model !== undefined ? { model: v.model } : {}),
    ...(v.weights !== undefined ? { weights: v.weights } : {}),
    ...(v.mode !== undefined ? { mode: choiceFlag(v.mode, 'mode', MODES) } : {}),
    ...(v.recipe !== undefined ? { recipe: choiceFlag(v.recipe, 'recipe', RECIPE_NAMES) } : {}),
    epochs: intFlag(v.epochs, 'epochs'),
    batchSize: intFlag(v['batch-size'], 'batch-size'),
    optimizer: choiceFlag(v.optimizer, 'optimizer', OPTIMIZERS),
    lr: numberFlag(v.lr, 'lr', { min: 0, exclusiveMin: true }),
    momentum: numberFlag(v.momentum, 'momentum', { min: 0, max: 1, exclusiveMax: true }),
    weightDecay: numberFlag(v['weight-decay'], 'weight-decay', { min: 0 }),
    scheduler: choiceFlag(v.scheduler, 'scheduler', SCHEDULERS),
    stepSize: intFlag(v['step-size'], 'step-size'),
    gamma: numberFlag(v.gamma, 'gamma', { min: 0, max: 1, exclusiveMin: true }),
    etaMin: numberFlag(v['eta-min'], 'eta-min', { min: 0 }),
    maxLr: numberFlag(v['max-lr'], 'max-lr', { min: 0, exclusiveMin: true }),
    pctStart: numberFlag(v['pct-start'], 'pct-start', { min: 0, max: 1, exclusiveMin: true, exclusiveMax: true }),
    labelSmoothing: numberFlag(v['label-smoothing'], 'label-smoothing', { min: 0, max: 1, exclusiveMax: true }),
    classWeights: classWeightsFlag(v['class-weights']),
    freezeBn: v['freeze-bn'],
    bnMomentum: numberFlag(v['bn-momentum'], 'bn-momentum', { min: 0, max: 1, exclusiveMin: true }),
    unfreezeLast: intFlag(v['unfreeze-last'], 'unfreeze-last', 0),
    valSplit: numberFlag(v['val-split'], 'val-split', { min: 0, max: 1, exclusiveMin: true, exclusiveMax: true }),
    seed: intFlag(v.seed, 'seed', 0),
    threads: intFlag(v.threads, 'threads'),
    device: choiceFlag(v.device, 'device', DEVICES),
    out: v.out,
    earlyStop: intFlag(v['early-stop'], 'early-stop'),
    featureViews: intFlag(v['feature-views'], 'feature-views', 0),
    inputSize: intFlag(v['input-size'], 'input-size', 8),
    augment: v['no-augment'] ? false : undefined,
    cacheDir: v['cache-dir'],
  };
  if (v.resume !== undefined) {
    if (v.resume === '' && v.out === undefined) throw new UsageError('--resume needs the run folder', { hint: 'pass --resume <run folder> (or --out <run folder> --resume)' });
    o.resume = v.resume === '' ? true : v.resume;
  }
  // Undefined values are "not given": drop them so the strict schema sees only real options.
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as TrainOptions;
}
