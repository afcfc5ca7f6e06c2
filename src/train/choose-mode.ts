/**
 * The mode of a run: explicit, the recipe's, or — with `--mode auto` — decided from the
 * dataset's size and a linear probe on features of a subset (src/train/auto-mode.ts). The
 * probe's features are kept when they cover the whole dataset, so features mode reuses them.
 */
import type { Sample } from '../data/sample.js';
import { keyedRandom, permutation } from '../random.js';
import { decideMode, linearProbe, type AutoDecision } from './auto-mode.js';
import type { EventBus, TrainHooks } from './events.js';
import { extractFeatures, type ExtractedFeatures } from './extract-features.js';
import { RECIPES, type ConcreteMode, type ParsedTrainOptions } from './options.js';
import type { RunSetup } from './run-setup.js';

/** Probe limits for --mode auto: enough to measure, small enough to stay quick. */
const PROBE_TRAIN = 1000;
const PROBE_VAL = 500;

/** A seeded subset of at most `max` samples (all of them when fewer). */
function subset(samples: readonly Sample[], max: number, seed: number): Sample[] {
  if (samples.length <= max) return [...samples];
  const order = permutation(keyedRandom(seed, 0xa070), samples.length);
  return Array.from(order.subarray(0, max), (i) => samples[i]).sort((a, b) => (a.path < b.path ? -1 : 1));
}

export interface ChosenMode {
  mode: ConcreteMode;
  autoDecision?: AutoDecision;
  /** The probe's features when they are the whole dataset's (features mode reuses them). */
  features?: ExtractedFeatures;
}

export async function chooseMode(s: RunSetup, o: ParsedTrainOptions, bus: EventBus, hooks: TrainHooks, onSkip: (path: string, reason: string) => void): Promise<ChosenMode> {
  const requested = o.mode ?? RECIPES[o.recipe].mode;
  if (requested !== 'auto') return { mode: requested };
  const finetuneOnly = [o.mixup > 0 && '--mixup', o.cutmix > 0 && '--cutmix', o.progressive && '--progressive'].filter(Boolean);
  if (finetuneOnly.length) {
    await bus.emit('log', { level: 'info', message: `--mode auto chose fine-tuning: ${finetuneOnly.join(', ')} appl${finetuneOnly.length > 1 ? 'y' : 'ies'} only to fine-tuning` });
    return { mode: 'finetune' };
  }
  const { folder } = s;
  const split = { train: subset(folder.train, PROBE_TRAIN, o.seed), val: subset(folder.val, PROBE_VAL, o.seed) };
  const probe = await extractFeatures(s, o, bus, hooks, split, 0, onSkip);
  const f = probe.set;
  const probeAcc = linearProbe({ x: f.train.views[0], y: f.train.labels }, { x: f.val.views[0], y: f.val.labels }, f.dim, s.classes.length, { seed: o.seed });
  const autoDecision = decideMode({ trainImages: folder.train.length, numClasses: s.classes.length, probeAcc });
  await bus.emit('log', { level: 'info', message: `--mode auto chose ${autoDecision.mode === 'features' ? 'feature extraction' : 'fine-tuning'}: ${autoDecision.reason}` });
  const whole = split.train.length === folder.train.length && split.val.length === folder.val.length && o.featureViews === 0;
  return { mode: autoDecision.mode, autoDecision, ...(whole ? { features: probe } : {}) };
}
