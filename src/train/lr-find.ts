/**
 * `lrFind(dataRoot, options)` (headstart lr-find) and `--lr auto`: fastai's learning-rate
 * range test on the run a `train()` call with the same options would start — the whole
 * network when fine-tuning, the new classifier on cached features in features mode and for
 * the fastai recipe's frozen epochs (as fastai runs lr_find on the frozen learner). The
 * sweep (src/train/lr-range-test.ts) uses the configured optimiser at a fixed rate per batch
 * (no schedule), and leaves the weights as it found them. lr-find writes lr-find.json and the
 * plot (lr-find.svg, lr-find.png) to its output folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { TrainingError } from '../errors.js';
import type { LrSuggestion } from '../optim/lr-suggestions.js';
import { trainableFilter } from '../models/trainable.js';
import { lrFindSvg } from '../report/lr-find-svg.js';
import { svgToPng } from '../report/svg-to-png.js';
import { chooseMode, type ChosenMode } from './choose-mode.js';
import { EventBus, type TrainHooks } from './events.js';
import { extractFeatures } from './extract-features.js';
import { createFinetuneRunner } from './finetune-runner.js';
import { createHeadRunner } from './head-runner.js';
import { lrRangeTest, LrRangeTestOptionsSchema, type LrRangeTestResult } from './lr-range-test.js';
import type { ModeRunner } from './mode-runner.js';
import { augmentPreset, TrainOptionsSchema, resolveTrainConfig, type ConcreteMode, type ParsedTrainOptions, type ResolvedTrainConfig } from './options.js';
import { setUpRun, type RunSetup } from './run-setup.js';
import { ConfigError } from '../errors.js';
import { describeZodIssues } from '../zod-issues.js';

/** The suggestion `--lr auto` takes (fastai's default, valley). */
const AUTO_LR_SUGGESTION = 'valley';

/** lr-find's options: a training run's (what the sweep runs on) and the sweep's own. */
export const LrFindOptionsSchema = TrainOptionsSchema.omit({ resume: true }).extend({
  startLr: LrRangeTestOptionsSchema.shape.startLr.meta({ group: 'lr-find', help: 'the first learning rate of the sweep', placeholder: 'X' }),
  endLr: LrRangeTestOptionsSchema.shape.endLr.meta({ group: 'lr-find', help: 'the last learning rate of the sweep', placeholder: 'X' }),
  numIt: LrRangeTestOptionsSchema.shape.numIt.meta({ group: 'lr-find', help: 'mini-batches of the sweep (it stops earlier when the smoothed loss passes 4x its minimum)' }),
});
export type LrFindOptions = z.input<typeof LrFindOptionsSchema>;

export interface LrFindSweep extends LrRangeTestResult {
  /** What was trained during the sweep, in words. */
  trained: string;
  /** The suggestion --lr auto takes. */
  picked: LrSuggestion;
}

export interface LrFindResult extends LrFindSweep {
  out: string;
  json: string;
  svg: string;
  png: string;
}

/**
 * Runs the range test for a set-up run in `mode` (what `--lr auto` calls before the run's
 * configuration is final). Throws E_LR_FIND_FAILED when the sweep leaves too few points.
 */
async function sweepLr(
  s: RunSetup,
  o: ParsedTrainOptions,
  mode: ConcreteMode,
  bus: EventBus,
  hooks: TrainHooks,
  onSkip: (path: string, reason: string) => void,
  chosen: Pick<ChosenMode, 'features'> = {},
  sweep: z.input<typeof LrRangeTestOptionsSchema> = {},
): Promise<LrFindSweep> {
  const config = { ...resolveTrainConfig(o, mode, s.spec.name, s.weightsLabel, s.spec.bnMomentum, s.spec.stochasticDepth ?? null), scheduler: { type: 'none' as const } };
  const headOnly = mode === 'features' || config.freeze !== null;
  let runner: ModeRunner;
  if (headOnly) {
    const f = chosen.features ?? (await extractFeatures(s, o, bus, hooks, s.folder, augmentPreset(o.augment) !== 'none' ? config.featureViews : 0, onSkip));
    runner = await createHeadRunner({ spec: s.spec, params: s.params, numClasses: s.classes.length, features: f.set, config: { ...config, lrMult: null, backboneLr: null }, session: s.session });
  } else {
    runner = await createFinetuneRunner({
      spec: s.spec,
      params: s.params,
      numClasses: s.classes.length,
      inputSize: s.preprocess.inputSize,
      train: s.folder.train,
      val: s.folder.val,
      trainTransform: s.trainTransform,
      evalTransform: s.evalTransform,
      config,
      trainable: trainableFilter(s.spec, { mode: 'finetune', ...(config.unfreezeLast !== null ? { unfreezeLast: config.unfreezeLast } : {}) }),
      session: s.session,
      onSkip,
    });
  }
  let r: LrRangeTestResult;
  try {
    r = await lrRangeTest(runner, sweep, () => {
      if (hooks.signal?.aborted) throw new TrainingError('E_INTERRUPTED', 'lr-find was interrupted; the weights are as they were');
    });
  } finally {
    await runner.release();
  }
  const picked = r.suggestions.find((x) => x.name === AUTO_LR_SUGGESTION);
  if (!picked) {
    throw new TrainingError('E_LR_FIND_FAILED', `The learning-rate sweep recorded ${r.lrs.length} batch(es)${r.stoppedEarly ? ` (${r.stoppedEarly})` : ''}: too few to suggest a rate`, {
      hint: 'lower --start-lr, or use more training images or a smaller --batch-size so the sweep has more batches',
    });
  }
  return { ...r, trained: headOnly ? 'the new classifier, on cached features' : 'the network as fine-tuning trains it', picked };
}

/** One line on what the sweep suggested (for logs and the CLI). */
function describeSuggestions(r: LrFindSweep): string {
  return r.suggestions.map((x) => `${x.name === 'minimum' ? 'minimum/10' : x.name} ${x.lr.toExponential(2)}`).join(', ');
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export async function lrFind(dataRoot: string, options?: LrFindOptions, hooks: TrainHooks = {}): Promise<LrFindResult> {
  const parsed = LrFindOptionsSchema.safeParse(options ?? {});
  if (!parsed.success) {
    const unknown = parsed.error.issues.some((i) => i.code === 'unrecognized_keys');
    throw new ConfigError(unknown ? 'E_UNKNOWN_OPTION' : 'E_BAD_OPTION', `Invalid lr-find options: ${describeZodIssues(parsed.error, Infinity, LrFindOptionsSchema)}`, {
      hint: 'see `headstart lr-find --help`',
    });
  }
  const { startLr, endLr, numIt, ...rest } = parsed.data;
  const o: ParsedTrainOptions = { ...rest, resume: false };
  resolveTrainConfig(o, o.mode === 'features' ? 'features' : 'finetune', '', ''); // contradictions fail before any loading
  const bus = new EventBus(hooks.listeners);
  const onSkip = (path: string, reason: string) => void bus.emit('skipped_image', { path, reason });
  const s = await setUpRun(dataRoot, o, bus, hooks);
  const chosen = await chooseMode(s, o, bus, hooks, onSkip);
  const r = await sweepLr(s, o, chosen.mode, bus, hooks, onSkip, chosen, { startLr, endLr, numIt });

  const out = resolve(o.out ?? join('runs', `${timestamp()}-${s.spec.name}-lr-find`));
  await mkdir(out, { recursive: true });
  const svg = lrFindSvg(r, `lr-find: ${s.spec.name}`);
  const files = { json: join(out, 'lr-find.json'), svg: join(out, 'lr-find.svg'), png: join(out, 'lr-find.png') };
  await writeFile(files.svg, svg);
  await writeFile(files.png, await svgToPng(svg));
  const payload = {
    model: s.spec.name,
    mode: chosen.mode,
    trained: r.trained,
    suggestions: Object.fromEntries(r.suggestions.map((x) => [x.name, x.lr])),
    picked: { name: r.picked.name, lr: r.picked.lr },
    stopped_early: r.stoppedEarly,
    start_lr: r.startLr,
    end_lr: r.endLr,
    num_it: r.numIt,
    lrs: r.lrs,
    losses: r.losses,
    smoothed: r.smoothed,
  };
  await writeFile(files.json, JSON.stringify(payload, null, 2) + '\n');
  return { ...r, out, ...files };
}

/** `--lr auto`: the sweep for the run about to start, and the rate it picks (said in a log line). */
export async function autoLr(
  s: RunSetup,
  o: ParsedTrainOptions,
  mode: ConcreteMode,
  bus: EventBus,
  hooks: TrainHooks,
  onSkip: (path: string, reason: string) => void,
  chosen: Pick<ChosenMode, 'features'>,
): Promise<NonNullable<ResolvedTrainConfig['lrFind']>> {
  const r = await sweepLr(s, o, mode, bus, hooks, onSkip, chosen);
  await bus.emit('log', {
    level: 'info',
    message: `--lr auto: lr-find swept ${r.lrs.length} batches training ${r.trained} and picked ${r.picked.lr.toExponential(2)} (${r.picked.name}; suggestions: ${describeSuggestions(r)})`,
  });
  return { picked: r.picked.name, lr: r.picked.lr, suggestions: Object.fromEntries(r.suggestions.map((x) => [x.name, x.lr])) };
}
