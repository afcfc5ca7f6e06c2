/**
 * The options of a training run — the one schema every layer uses. `train()` and `compare()`
 * validate against it once, at the API boundary (unknown keys rejected); the CLI's flags,
 * their help lines and their defaults are generated from it (src/cli/schema-flags.ts), so
 * adding an option is one field here plus the code that uses it.
 *
 * Each field carries `meta({ help, group, flag? })`: `help` is its --help line, `group` its
 * section, `flag` overrides the flag name (default: the field name in kebab-case). Optimiser
 * and schedule options are nested (`optimizer: { type: 'sgd', momentum, nesterov }`,
 * `scheduler: { type: 'step', stepSize, gamma, warmup }`); their fields come from the
 * schemas in src/optim, and a bare name (`optimizer: 'adamw'`) is short for `{ type: 'adamw' }`.
 *
 * Defaults come from a recipe (data, below); explicit options always win:
 *   - headstart (default): the torchvision recipe for fine-tuning; for feature extraction
 *     (only the new classifier trains, on cached features) SGD lr 1e-2 momentum 0.9 with a
 *     cosine schedule over the run, chosen by measurement (bench/features-recipe.ts).
 *   - torchvision: the PyTorch transfer-learning tutorial — resnet18 on ImageNet
 *     weights, batch 8, SGD lr 1e-3 momentum 0.9, StepLR(7, 0.1), 25 epochs, cross-entropy;
 *     the same optimiser for fine-tuning and for feature extraction.
 *   - floydhub: the FloydHub transfer-learning article — lr 1e-4; fine-tuning with SGD
 *     momentum 0.9 over all parameters, feature extraction with plain SGD (momentum 0);
 *     StepLR(7, 0.1); 25 epochs; batch 8.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { ModelSpec } from '../models/model-spec.js';
import { OPTIMIZER_TYPES, OptimizerConfigSchema, type OptimizerConfig, type OptimizerConfigInput } from '../optim/optimizer-config.js';
import { SCHEDULER_TYPES, SchedulerConfigSchema, type SchedulerConfig, type SchedulerConfigInput } from '../optim/scheduler-config.js';
import { describeZodIssues } from '../zod-issues.js';
import { UNKNOWN_SCORES } from '../metrics/rejection.js';
import { resolveBnMomentum, TORCH_BN_MOMENTUM } from '../models/bn-momentum.js';
import { AUGMENT_PRESETS, type AugmentPreset } from '../data/build-transforms.js';

export const RECIPE_NAMES = ['torchvision', 'floydhub', 'headstart', 'fastai'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];
export const MODES = ['finetune', 'features', 'auto'] as const;
export type TrainMode = (typeof MODES)[number];
export type ConcreteMode = Exclude<TrainMode, 'auto'>;
export const DEVICES = ['cpu', 'cuda'] as const;
/** Engines of the fine-tuning step (src/train/train-engine.ts). */
export const TRAIN_ENGINES = ['auto', 'onnx', 'native'] as const;

/** What a recipe fixes. `modes` holds per-mode differences (deep-merged over the rest). */
export interface Recipe {
  model: string;
  mode: ConcreteMode;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: Partial<OptimizerConfig>;
  scheduler: Partial<SchedulerConfig>;
  /** Per-mode differences: optimiser fields merge over the recipe's; an lr or a scheduler replaces it. */
  modes?: Partial<Record<ConcreteMode, { optimizer?: Partial<OptimizerConfig>; lr?: number; scheduler?: Partial<SchedulerConfig> }>>;
  /** BatchNorm momentum (torch's convention) for models that bring none of their own (src/models/bn-momentum.ts). */
  bnMomentum: number;
  /** fastai's fine_tune: epochs of the head alone (from the feature cache) before everything unfreezes, and that phase's schedule. */
  freeze?: { epochs: number; scheduler: Partial<SchedulerConfig>; unfreezeLrFactor: number };
  /** Discriminative learning rates: lr / lrMult at the first stage up to lr at the head (src/train/stage-lrs.ts). */
  lrMult?: number;
  /** One-cycle's peak is each group's lr (fastai), not 10x lr. */
  oneCyclePeakIsLr?: boolean;
}

/**
 * headstart's feature-extraction lr. The torchvision recipe's lr 1e-3 with StepLR(7, 0.1) has
 * divided the head's lr by 100 by epoch 14 and leaves it under-trained (mean 93.0% on the
 * embedded dataset, 91.5% on 800/800 Fashion-MNIST images over 5 seeds); chosen by measurement
 * among SGD and AdamW with step and cosine schedules on both (bench/features-recipe.ts, README).
 */
const HEAD_LR = 1e-2;

export const RECIPES: Readonly<Record<RecipeName, Readonly<Recipe>>> = Object.freeze({
  torchvision: {
    model: 'resnet18',
    mode: 'finetune',
    epochs: 25,
    batchSize: 8,
    lr: 1e-3,
    optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 0 },
    scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
    bnMomentum: TORCH_BN_MOMENTUM,
  },
  floydhub: {
    model: 'resnet18',
    mode: 'finetune',
    epochs: 25,
    batchSize: 8,
    lr: 1e-4,
    optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 0 },
    scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
    modes: { features: { optimizer: { momentum: 0 } } },
    bnMomentum: TORCH_BN_MOMENTUM,
  },
  headstart: {
    model: 'resnet18',
    mode: 'finetune',
    epochs: 25,
    batchSize: 8,
    lr: 1e-3,
    optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 0 },
    scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
    modes: { features: { lr: HEAD_LR, scheduler: { type: 'cosine' } } },
    bnMomentum: TORCH_BN_MOMENTUM,
  },
  fastai: {
    // fastai 2.7's vision_learner + fine_tune: Adam(0.9, 0.99, eps 1e-5) with true (decoupled)
    // weight decay 0.01, base lr 2e-3, bs 64; freeze_epochs 1 of fit_one_cycle(pct_start 0.99),
    // then lr/2 and fit_one_cycle(slice(lr/2/100, lr/2), pct_start 0.3, div 5); moms 0.95-0.85.
    model: 'resnet18',
    mode: 'finetune',
    epochs: 5,
    batchSize: 64,
    lr: 2e-3,
    optimizer: { type: 'adamw', betas: [0.9, 0.99], eps: 1e-5, weightDecay: 0.01 },
    scheduler: { type: 'onecycle', pctStart: 0.3, divFactor: 5, finalDivFactor: 1e5, baseMomentum: 0.85, maxMomentum: 0.95, convention: 'fastai' },
    bnMomentum: TORCH_BN_MOMENTUM,
    freeze: { epochs: 1, scheduler: { pctStart: 0.99, divFactor: 25 }, unfreezeLrFactor: 0.5 },
    lrMult: 100,
    oneCyclePeakIsLr: true,
  },
});

/** The recipe a run uses unless told otherwise. */
export const DEFAULT_RECIPE: RecipeName = 'headstart';

/** headstart's one-cycle default: the peak is 10x the base lr (torch requires one). */
const ONE_CYCLE_PEAK_FACTOR = 10;

const isSpec = (v: unknown): v is ModelSpec => typeof v === 'object' && v !== null && typeof (v as ModelSpec).name === 'string' && typeof (v as ModelSpec).features === 'function';

/**
 * The fields of every member of a discriminated union as one object of optional fields,
 * without defaults (so only what a user gave is set); each field's meta records the members'
 * defaults (`defaults: { sgd: 0, adamw: 0.01 }`) for the help text.
 */
function anyMemberFields(union: z.ZodDiscriminatedUnion, omit: readonly string[]): Record<string, z.ZodType> {
  const fields: Record<string, z.ZodType> = {};
  const defaults: Record<string, Record<string, unknown>> = {};
  for (const member of union.options as z.ZodObject[]) {
    const type = String((member.shape.type as z.ZodLiteral).value);
    for (const [key, field] of Object.entries(member.shape) as [string, z.ZodType][]) {
      if (key === 'type' || omit.includes(key)) continue;
      const d = defaultOf(field);
      if (d !== undefined) (defaults[key] ??= {})[type] = d;
      fields[key] ??= withoutDefault(field);
    }
  }
  return Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.meta({ ...f.meta(), ...(defaults[k] ? { defaults: defaults[k] } : {}) }).optional()]));
}

function defaultOf(t: z.ZodType): unknown {
  for (let cur = t; ; cur = (cur.def as unknown as { innerType: z.ZodType }).innerType) {
    if (cur.def.type === 'default') return (cur.def as unknown as { defaultValue: unknown }).defaultValue;
    if (cur.def.type !== 'optional') return undefined;
  }
}

function withoutDefault(t: z.ZodType): z.ZodType {
  let cur = t;
  let meta = t.meta();
  while (cur.def.type === 'default' || cur.def.type === 'optional') {
    cur = (cur.def as unknown as { innerType: z.ZodType }).innerType;
    meta = { ...cur.meta(), ...meta };
  }
  return meta ? cur.meta(meta) : cur;
}

/** Every field any member of a union of option objects has, each optional (what a user may write before the type is settled). */
type AnyMemberFields<U, Omitted extends string = never> = {
  [K in Exclude<U extends unknown ? keyof U : never, Omitted>]?: U extends { [P in K]?: infer V } ? Exclude<V, undefined> : never;
};

/** `optimizer: 'adamw'` or `optimizer: { type?: 'adamw', betas: [0.9, 0.99] }`; `lr` is a top-level option. */
const OptimizerOption = z.union([
  z.enum(OPTIMIZER_TYPES),
  z.strictObject({ type: z.enum(OPTIMIZER_TYPES).optional(), ...anyMemberFields(OptimizerConfigSchema, ['lr']) }) as unknown as z.ZodType<AnyMemberFields<OptimizerConfigInput, 'lr'>>,
]);
const SchedulerOption = z.union([
  z.enum(SCHEDULER_TYPES),
  z.strictObject({ type: z.enum(SCHEDULER_TYPES).optional(), ...anyMemberFields(SchedulerConfigSchema, []) }) as unknown as z.ZodType<AnyMemberFields<SchedulerConfigInput>>,
]);

const g = (group: string, help: string, extra: Record<string, unknown> = {}) => ({ group, help, ...extra });

/** Everything `train(dataRoot, options)` accepts; every field is optional. */
export const TrainOptionsSchema = z.strictObject({
  model: z
    .union([z.string().min(1), z.custom<ModelSpec>(isSpec, 'expected a model name or a ModelSpec')])
    .optional()
    .meta(g('model', 'architecture (see `headstart models`); mobilenet_v2_offline needs no download', { placeholder: 'NAME', kind: 'string' })),
  weights: z
    .string()
    .min(1)
    .optional()
    .meta(g('model', ".pth / .safetensors to start from, or `none` for random init (default: the model's pretrained weights, downloaded and cached)", { placeholder: 'FILE' })),
  mode: z.enum(MODES).optional().meta(g('model', 'finetune, features (train only the new classifier on cached features), or auto (decides from the data and a quick linear probe, and says why)')),
  recipe: z
    .enum(RECIPE_NAMES)
    .default(DEFAULT_RECIPE)
    .meta(g('model', "where the defaults come from; explicit options override it. headstart = the PyTorch tutorial's for fine-tuning, a measured one for feature extraction (SGD 1e-2, cosine)")),

  epochs: z.int().positive().optional().meta(g('optimisation', 'epochs to train')),
  batchSize: z.int().positive().optional().meta(g('optimisation', 'images per training step')),
  lr: z
    .union([z.number().positive(), z.literal('auto')])
    .optional()
    .meta(
      g('optimisation', 'learning rate (the base of the schedule), or auto: run the lr finder first (headstart lr-find) and take its valley suggestion', { placeholder: 'X', kind: 'auto-or-number' }),
    ),
  backboneLr: z
    .number()
    .min(0)
    .optional()
    .meta(g('optimisation', "learning rate of the pretrained parameters when it should differ from the new classifier's (two parameter groups; default: --lr for all)", { placeholder: 'X' })),
  optimizer: OptimizerOption.optional().meta(g('optimisation', 'sgd, adam or adamw', { flag: 'optimizer' })),
  scheduler: SchedulerOption.optional().meta(g('optimisation', 'step, cosine, onecycle or none', { flag: 'scheduler' })),
  labelSmoothing: z
    .number()
    .min(0)
    .lt(1)
    .default(0)
    .meta(g('optimisation', 'label smoothing of the cross-entropy', { placeholder: 'X' })),
  classWeights: z
    .union([z.literal('auto'), z.array(z.number().positive()).min(1)])
    .optional()
    .meta(g('optimisation', 'auto (inverse class frequency) or one weight per class: 1,2.5,1', { placeholder: 'W', kind: 'auto-or-numbers' })),
  earlyStop: z.int().positive().optional().meta(g('optimisation', 'stop when val accuracy has not improved for N epochs')),

  unfreezeLast: z
    .int()
    .nonnegative()
    .optional()
    .meta(g('model', 'fine-tune only the last K stages (and the new classifier)', { placeholder: 'K' })),
  freezeBn: z.boolean().default(false).meta(g('model', 'keep every BatchNorm in inference mode while fine-tuning')),
  bnMomentum: z
    .number()
    .gt(0)
    .max(1)
    .optional()
    .meta(g('model', "BatchNorm momentum (torch's convention) while fine-tuning: default the model's own, or the recipe's 0.1 for an imported model", { placeholder: 'X' })),
  stochasticDepth: z
    .number()
    .min(0)
    .lt(1)
    .optional()
    .meta(
      g(
        'model',
        "stochastic depth while fine-tuning: each residual branch is dropped per sample with a probability rising with depth to nearly X, as torchvision trains (default the model's: efficientnet_b0 0.2, others none; 0: off; frozen stages never)",
        { placeholder: 'X' },
      ),
    ),
  inputSize: z.int().min(8).max(1024).optional().meta(g('model', "crop side fed to the network (default: the model's, e.g. 224); smaller is faster, less accurate")),
  cut: z
    .string()
    .min(1)
    .optional()
    .meta(g('model', '--model x.onnx: the value at which its classifier is cut (default: the input of its last Gemm/MatMul)', { placeholder: 'NAME' })),
  mean: z
    .tuple([z.number(), z.number(), z.number()])
    .optional()
    .meta(g('model', "normalisation mean (default: the model's; for an .onnx model its metadata, else ImageNet's)", { placeholder: 'R,G,B' })),
  std: z
    .tuple([z.number().positive(), z.number().positive(), z.number().positive()])
    .optional()
    .meta(g('model', "normalisation std (default: the model's; for an .onnx model its metadata, else ImageNet's)", { placeholder: 'R,G,B' })),
  resizeSize: z.int().min(8).max(2048).optional().meta(g('model', "eval resize side before the centre crop (default: the model's)")),

  valSplit: z
    .number()
    .gt(0)
    .lt(1)
    .default(0.2)
    .meta(g('data', 'val fraction when the root has no val/ folder', { placeholder: 'X' })),
  exactAugment: z.boolean().default(false).meta(g('data', "resample augmentations with PIL's exact kernels in JS (torchvision's bytes; slower) instead of libvips'")),
  augment: z
    .union([z.enum(AUGMENT_PRESETS), z.boolean()])
    .default('basic')
    .meta(
      g('data', 'training augmentation: none (the eval transform), basic (RandomResizedCrop + flip), trivial (+ TrivialAugmentWide), randaugment (+ RandAugment(2, 9))', {
        kind: 'enum',
        placeholder: 'PRESET',
      }),
    ),
  featureViews: z
    .int()
    .min(0)
    .max(64)
    .default(0)
    .meta(g('data', 'features mode: cache K views per image drawn from the --augment preset (0: one un-augmented view, extracted once)', { placeholder: 'K' })),
  mixup: z
    .number()
    .min(0)
    .max(100)
    .default(0)
    .meta(g('data', "MixUp: blend each training image with another, weight ~ Beta(ALPHA, ALPHA), soft targets (torchvision v2's MixUp; 0: off; e.g. 0.2; fine-tuning only)", { placeholder: 'ALPHA' })),
  cutmix: z
    .number()
    .min(0)
    .max(100)
    .default(0)
    .meta(
      g('data', "CutMix: paste a box of another training image, area ~ Beta(ALPHA, ALPHA), soft targets (torchvision v2's CutMix; 0: off; e.g. 1; with --mixup each batch picks one)", {
        placeholder: 'ALPHA',
      }),
    ),
  progressive: z
    .array(z.int().min(8).max(1024))
    .min(2)
    .max(8)
    .optional()
    .meta(
      g(
        'data',
        "progressive resizing (fine-tuning): train the early epochs at smaller crops, the last at the model's size, e.g. 128,224; BatchNorm statistics recomputed at the final size before each val phase",
        {
          placeholder: 'S1,S2',
        },
      ),
    ),
  cacheDir: z
    .string()
    .min(1)
    .optional()
    .meta(g('data', 'feature cache (default $HEADSTART_HOME/features or ~/.cache/headstart/features)', { placeholder: 'DIR' })),

  seed: z
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0)
    .meta(g('run', 'same seed, same run')),
  threads: z.int().positive().optional().meta(g('run', 'ONNX Runtime threads (default: all cores)')),
  device: z.enum(DEVICES).default('cpu').meta(g('run', "cpu or cuda (needs ONNX Runtime's CUDA provider)")),
  engine: z
    .enum(TRAIN_ENGINES)
    .default('auto')
    .meta(g('run', 'fine-tune + val engine: native (oneDNN addon, npm run build:native; ResNets), onnx (ONNX Runtime), auto: native where built, self-tested and supported')),
  out: z
    .string()
    .min(1)
    .optional()
    .meta(g('run', 'output folder (default runs/<time>-<model>-<mode>)', { placeholder: 'DIR' })),
  resume: z
    .union([z.boolean(), z.string().min(1)])
    .default(false)
    .meta(g('run', 'continue the interrupted run in DIR (or in --out) from its checkpoint', { placeholder: '[DIR]', kind: 'optional-string' })),
  overwrite: z.boolean().default(false).meta(g('run', 'replace the run already in --out (by default an existing run folder is never overwritten)')),
  trainFraction: z
    .number()
    .gt(0)
    .max(1)
    .default(1)
    .meta(g('data', 'train on this stratified, seeded fraction of the training images (a learning curve point; val is kept whole)', { placeholder: 'X' })),

  calibrate: z
    .boolean()
    .default(true)
    .meta(g('trust', 'fit temperature scaling on the val split and store it in model.onnx (calibrated `probabilities` output)', { flagHelp: 'store uncalibrated probabilities (T = 1)' })),
  rejectRate: z
    .number()
    .min(0)
    .max(0.5)
    .default(0.05)
    .meta(g('trust', 'the "unknown" threshold rejects this share of the val images (0: no `unknown` output)', { placeholder: 'X' })),
  unknownDir: z
    .string()
    .min(1)
    .optional()
    .meta(
      g(
        'trust',
        'images of none of the classes: the threshold is set at the best F1 between accepted known and rejected unknown images; with the mahalanobis score they also get a centre of their own (score: squared distance to it minus that to the nearest class)',
        { placeholder: 'DIR' },
      ),
    ),
  unknownScore: z
    .enum(UNKNOWN_SCORES)
    .default('mahalanobis')
    .meta(
      g(
        'trust',
        'score of the "unknown" answer: mahalanobis (distance of the pooled features to the nearest class, tied covariance of the training features; the best AUROC in bench:trust), msp (maximum calibrated probability) or energy (T * logsumexp(logits / T))',
      ),
    ),
  verifySamples: z.int().min(0).max(8).default(3).meta(g('trust', 'val images stored in model.onnx with their expected outputs, for `headstart verify` (0: none)')),

  freezeEpochs: z
    .int()
    .nonnegative()
    .optional()
    .meta(g('optimisation', 'the first N of --epochs train the new classifier alone, on cached features, before everything unfreezes (fastai: 1; others: 0)')),
  lrMult: z
    .number()
    .min(1)
    .optional()
    .meta(
      g(
        'optimisation',
        "discriminative learning rates: one parameter group per model stage, lr/X at the stem rising geometrically to lr at the classifier (fastai's lr_mult; fastai: 100, others: one rate)",
        { placeholder: 'X' },
      ),
    ),
  cacheFrozen: z
    .boolean()
    .default(false)
    .meta(
      g(
        'model',
        'with --unfreeze-last K: run the frozen stages once per image (per --feature-views view) and cache their output on disk, so each epoch runs only the last K stages, on the engine --engine picks (the training images are then the cached views, not a fresh augmentation per epoch)',
      ),
    ),
  unfreezeLr: z
    .number()
    .positive()
    .optional()
    .meta(g('optimisation', "recipe fastai: the classifier's peak lr once everything unfreezes (default: lr/2, as fastai's fine_tune)", { placeholder: 'X' })),
});
export type TrainOptions = z.input<typeof TrainOptionsSchema>;
export type ParsedTrainOptions = z.output<typeof TrainOptionsSchema>;

type OptimizerWithoutLr = OptimizerConfig extends infer T ? (T extends unknown ? Omit<T, 'lr'> : never) : never;

/** The complete configuration of a run (what config.json records). */
export interface ResolvedTrainConfig {
  recipe: RecipeName;
  model: string;
  /** The --weights option as given (a file, 'none'), or null for the model's own weights. */
  weights: string | null;
  /** Where the starting weights came from, in words. */
  weightsSource: string;
  mode: ConcreteMode;
  epochs: number;
  batchSize: number;
  lr: number;
  backboneLr: number | null;
  /** The optimiser's options without `lr` (a top-level option). */
  optimizer: OptimizerWithoutLr;
  scheduler: SchedulerConfig;
  labelSmoothing: number;
  classWeights: 'auto' | number[] | null;
  freezeBn: boolean;
  /** BatchNorm momentum (torch's convention) of the fine-tuning run (src/models/bn-momentum.ts). */
  bnMomentum: number;
  /** Stochastic depth's rate while fine-tuning (the model's, or --stochastic-depth; 0: none); absent in older config files (none). */
  stochasticDepth?: number;
  unfreezeLast: number | null;
  valSplit: number;
  seed: number;
  threads: number | null;
  device: (typeof DEVICES)[number];
  /** The fine-tuning step's engine as asked (absent in older config files: onnx); config.json's engine_used says which ran. */
  engine?: (typeof TRAIN_ENGINES)[number];
  earlyStop: number | null;
  featureViews: number;
  inputSize: number | null;
  /** The augmentation preset (a boolean in older config files: true = basic, false = none). */
  augment: AugmentPreset;
  exactAugment: boolean;
  /** MixUp's and CutMix's Beta alpha (0: off); absent in the config files of older runs. */
  mixup?: number;
  cutmix?: number;
  /** Progressive resizing's crop sizes, the last the model's (null: off); absent in older config files. */
  progressive?: number[] | null;
  /** Discriminative learning rates over the model's stages (lr/lrMult .. lr), or null for one rate. */
  lrMult: number | null;
  /** fastai's fine_tune: the head alone (cached features) for freeze.epochs, then everything at unfreezeLr; null otherwise. */
  freeze: { epochs: number; lr: number; scheduler: SchedulerConfig; unfreezeLr: number } | null;
  /** Cached partial fine-tuning: the frozen stages' output comes from the feature cache (src/train/cached-partial-runner.ts). */
  cacheFrozen: boolean;
  /** What --lr auto found (src/train/lr-find.ts), when it was asked for. */
  lrFind?: { picked: string; lr: number; suggestions: Record<string, number> };
}

/** The preset an `augment` option names (true and false, the older boolean form, are basic and none). */
export function augmentPreset(augment: AugmentPreset | boolean): AugmentPreset {
  return augment === true ? 'basic' : augment === false ? 'none' : augment;
}

/** Validates train options once, at the boundary. */
export function parseTrainOptions(options: unknown): ParsedTrainOptions {
  const r = TrainOptionsSchema.safeParse(options ?? {});
  if (!r.success) throw invalid(r.error, TrainOptionsSchema, 'train');
  return r.data;
}

function invalid(error: z.ZodError, schema: z.ZodObject, command: string): ConfigError {
  const unknown = error.issues.some((i) => i.code === 'unrecognized_keys');
  return new ConfigError(unknown ? 'E_UNKNOWN_OPTION' : 'E_BAD_OPTION', `Invalid ${command} options: ${describeZodIssues(error, Infinity, schema)}`, { hint: `see \`headstart ${command} --help\`` });
}

/** The model the options ask for (the recipe's by default). */
export function requestedModel(o: Pick<ParsedTrainOptions, 'model' | 'recipe'>): string | ModelSpec {
  return o.model ?? RECIPES[o.recipe].model;
}

const asObject = (v: string | Record<string, unknown> | undefined): Record<string, unknown> => (typeof v === 'string' ? { type: v } : (v ?? {}));

/** The recipe's value, unless the user picked another type: then only the user's fields (and the type's own defaults). */
function overlay(base: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  return given.type !== undefined && given.type !== base.type ? { ...given } : { ...base, ...given };
}

function resolveOptimizer(o: ParsedTrainOptions, mode: ConcreteMode, lr: number): OptimizerConfig {
  const r = RECIPES[o.recipe];
  const base = { ...r.optimizer, ...r.modes?.[mode]?.optimizer };
  const merged = overlay(base, asObject(o.optimizer));
  const parsed = OptimizerConfigSchema.safeParse({ ...merged, lr });
  if (!parsed.success)
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `optimizer ${String(merged.type)}: ${describeZodIssues(parsed.error)}`, {
      hint: 'each optimiser takes its own options: see `headstart train --help`',
    });
  return parsed.data;
}

function resolveScheduler(o: ParsedTrainOptions, mode: ConcreteMode, lr: number, extra: Record<string, unknown> = {}): SchedulerConfig {
  const r = RECIPES[o.recipe];
  const given = overlay(r.modes?.[mode]?.scheduler ?? r.scheduler, asObject(o.scheduler));
  const merged = given.type === 'onecycle' ? { ...given, ...extra } : given;
  if (merged.type === 'onecycle' && merged.maxLr === undefined && !r.oneCyclePeakIsLr) merged.maxLr = lr * ONE_CYCLE_PEAK_FACTOR;
  const parsed = SchedulerConfigSchema.safeParse(merged);
  if (!parsed.success)
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `scheduler ${String(merged.type)}: ${describeZodIssues(parsed.error)}`, {
      hint: 'each schedule takes its own options: see `headstart train --help`',
    });
  return parsed.data;
}

/** The full configuration for a concrete mode: the recipe's values, overridden by explicit options. */
export function resolveTrainConfig(
  o: ParsedTrainOptions,
  mode: ConcreteMode,
  modelName: string,
  weightsSource: string,
  modelBnMomentum?: number,
  modelStochasticDepth?: number | null,
): ResolvedTrainConfig {
  const r = RECIPES[o.recipe];
  if (mode === 'features' && o.unfreezeLast !== undefined && o.unfreezeLast > 0) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--unfreeze-last ${o.unfreezeLast} contradicts --mode features (only the new classifier trains)`, {
      hint: 'use --mode finetune with --unfreeze-last, or drop --unfreeze-last',
    });
  }
  // null: the model is known and has no stochastic-depth blocks (undefined: not known yet, as in the early checks).
  if ((o.stochasticDepth ?? 0) > 0 && modelStochasticDepth === null) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--stochastic-depth ${o.stochasticDepth}: ${modelName} has no stochastic-depth blocks, so nothing would be dropped`, {
      hint: 'drop --stochastic-depth for this model (efficientnet_b0 trains with it, as torchvision does)',
    });
  }
  if (mode === 'features' && o.progressive) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', '--progressive changes the crop size between epochs, and --mode features trains on features cached at one size', {
      hint: 'use --mode finetune with --progressive, or drop it',
    });
  }
  if (mode === 'features' && (o.mixup > 0 || o.cutmix > 0)) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--${o.mixup > 0 ? 'mixup' : 'cutmix'} mixes images, and --mode features trains on cached features of unmixed images`, {
      hint: 'use --mode finetune with --mixup/--cutmix, or drop them; with features, --feature-views K --augment trivial adds variety',
    });
  }
  // --lr auto is settled before the configuration is final (src/train/lr-find.ts); until then, the recipe's.
  const lr = typeof o.lr === 'number' ? o.lr : (r.modes?.[mode]?.lr ?? r.lr);
  const optimizer = resolveOptimizer(o, mode, lr);
  const lrMult = o.lrMult ?? (mode === 'finetune' ? r.lrMult : undefined) ?? null;
  if (lrMult !== null && o.backboneLr !== undefined) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--backbone-lr ${o.backboneLr} and --lr-mult ${lrMult} both set the pretrained parameters' learning rates`, {
      hint: 'give one of them (the fastai recipe sets --lr-mult 100)',
    });
  }
  if (o.cacheFrozen && (mode !== 'finetune' || o.unfreezeLast === undefined || o.unfreezeLast === 0)) {
    throw new ConfigError(
      'E_INCOMPATIBLE_OPTIONS',
      `--cache-frozen caches the frozen stages of a partial fine-tune; ${mode !== 'finetune' ? `--mode ${mode} trains only the new classifier (its features are cached anyway)` : `it needs --unfreeze-last K (1 or more)`}`,
      {
        hint: 'add --unfreeze-last K with --mode finetune, or drop --cache-frozen',
      },
    );
  }
  const freezeEpochs = mode === 'finetune' ? (o.freezeEpochs ?? r.freeze?.epochs ?? 0) : 0;
  if (o.freezeEpochs !== undefined && o.freezeEpochs > 0 && mode !== 'finetune') {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--freeze-epochs ${o.freezeEpochs} needs fine-tuning; --mode ${mode} trains only the new classifier`, {
      hint: 'drop --freeze-epochs, or use --mode finetune',
    });
  }
  const epochs = o.epochs ?? r.epochs;
  if (freezeEpochs > 0 && freezeEpochs >= epochs) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--freeze-epochs ${freezeEpochs} leaves none of the ${epochs} epochs to fine-tune`, {
      hint: `use --epochs ${freezeEpochs + 1} or more, or fewer --freeze-epochs`,
    });
  }
  const { lr: _, ...optimizerWithoutLr } = optimizer;
  return {
    recipe: o.recipe,
    model: modelName,
    weights: o.weights ?? null,
    weightsSource,
    mode,
    epochs,
    batchSize: o.batchSize ?? r.batchSize,
    lr,
    backboneLr: o.backboneLr ?? null,
    optimizer: optimizerWithoutLr,
    scheduler: resolveScheduler(o, mode, lr),
    labelSmoothing: o.labelSmoothing,
    classWeights: o.classWeights ?? null,
    freezeBn: o.freezeBn,
    bnMomentum: resolveBnMomentum(modelBnMomentum, o.bnMomentum, r.bnMomentum).momentum,
    stochasticDepth: o.stochasticDepth ?? modelStochasticDepth ?? 0,
    unfreezeLast: o.unfreezeLast ?? null,
    valSplit: o.valSplit,
    seed: o.seed,
    threads: o.threads ?? null,
    device: o.device,
    engine: o.engine,
    earlyStop: o.earlyStop ?? null,
    featureViews: o.featureViews,
    inputSize: o.inputSize ?? null,
    augment: augmentPreset(o.augment),
    exactAugment: o.exactAugment,
    mixup: o.mixup,
    cutmix: o.cutmix,
    progressive: o.progressive ?? null,
    lrMult,
    cacheFrozen: o.cacheFrozen,
    freeze:
      freezeEpochs > 0 ? { epochs: freezeEpochs, lr, scheduler: resolveScheduler(o, mode, lr, r.freeze?.scheduler ?? {}), unfreezeLr: o.unfreezeLr ?? lr * (r.freeze?.unfreezeLrFactor ?? 1) } : null,
  };
}

/** `compare(dataRoot, options)`: the train options shared by both runs (no mode, no resume). */
export const CompareOptionsSchema = TrainOptionsSchema.omit({ mode: true, resume: true, trainFraction: true }).extend({
  seeds: z.int().min(1).max(100).default(1).meta(g('compare', 'run each mode N times (seeds --seed .. --seed+N-1): mean and 95% interval per mode, a paired test')),
  fractions: z
    .array(z.number().gt(0).max(1))
    .min(1)
    .optional()
    .meta(g('compare', 'learning curve: also train both modes on these fractions of the training images, e.g. 0.25,0.5,1', { placeholder: 'F,F,...', kind: 'numbers' })),
});
export type CompareOptions = z.input<typeof CompareOptionsSchema>;

export function parseCompareOptions(options: unknown): z.output<typeof CompareOptionsSchema> {
  const r = CompareOptionsSchema.safeParse(options ?? {});
  if (!r.success) throw invalid(r.error, CompareOptionsSchema, 'compare');
  return r.data;
}
