/**
 * fastai's `fine_tune` as phases of one run (config.freeze): first the new classifier alone for
 * `freeze.epochs`, on the feature cache — the backbone runs once per image, not once per epoch
 * — with its own one-cycle (fastai: pct_start 0.99) to `freeze.lr`; then everything unfreezes
 * for the remaining epochs at `freeze.unfreezeLr`, with the run's optimiser, schedule and
 * discriminative learning rates (lrMult). Epoch numbers, history, checkpoints and the best
 * weights run on across the phases; a run without `freeze` is one phase.
 */
import { cloneTensors, copyInto } from './checkpoint.js';
import type { Resumed } from './resume.js';
import type { FitState } from './fit.js';
import type { ModeRunner } from './mode-runner.js';
import type { ConcreteMode, ResolvedTrainConfig } from './options.js';

export interface FitPhase {
  /** The configuration the phase's runner is built with (its epochs: the phase's length). */
  config: ResolvedTrainConfig;
  mode: ConcreteMode;
  /** The run's epoch before the phase's first (0 for the first phase). */
  firstEpoch: number;
  /** The run's epoch at which the phase ends. */
  lastEpoch: number;
  /** What the phase does, in words (null for a one-phase run). */
  message: string | null;
}

const lrText = (lr: number) => (lr < 1e-3 ? lr.toExponential(1) : String(Number(lr.toPrecision(3))));

/** The phases still to run after `doneEpochs` finished epochs (a resumed run skips those behind it). */
export function fitPhases(config: ResolvedTrainConfig, mode: ConcreteMode, doneEpochs: number): FitPhase[] {
  const f = mode === 'finetune' ? config.freeze : null;
  if (!f || config.epochs <= f.epochs) return [{ config, mode, firstEpoch: 0, lastEpoch: config.epochs, message: null }];
  const head: ResolvedTrainConfig = { ...config, epochs: f.epochs, lr: f.lr, scheduler: f.scheduler, lrMult: null, backboneLr: null };
  const all: ResolvedTrainConfig = { ...config, epochs: config.epochs - f.epochs, lr: f.unfreezeLr };
  const ramp = config.lrMult !== null ? `, discriminative rates ${lrText(f.unfreezeLr / config.lrMult)}..${lrText(f.unfreezeLr)} across the model's stages` : '';
  const phases: FitPhase[] = [
    {
      config: head,
      mode: 'features',
      firstEpoch: 0,
      lastEpoch: f.epochs,
      message: `epoch${f.epochs > 1 ? `s 1-${f.epochs}` : ' 1'}: the new classifier alone on cached features (backbone frozen), ${config.scheduler.type} to lr ${lrText(f.lr)}`,
    },
    {
      config: all,
      mode: 'finetune',
      firstEpoch: f.epochs,
      lastEpoch: config.epochs,
      message: `epochs ${f.epochs + 1}-${config.epochs}: everything unfrozen, ${config.optimizer.type}, ${config.scheduler.type} to lr ${lrText(f.unfreezeLr)}${ramp}`,
    },
  ];
  const left = phases.filter((p) => p.lastEpoch > doneEpochs);
  return left.length > 0 ? left : phases.slice(-1);
}

/**
 * Resuming from the checkpoint of the last epoch before a phase: the parameters, history and
 * best weights carry over; the optimiser and schedule are the new phase's own, fresh.
 */
export function restoreAtPhaseStart(r: Resumed, runner: ModeRunner, state: FitState): void {
  copyInto(runner.changing, r.state.params);
  state.epoch = r.state.epoch;
  state.history = r.state.history;
  state.best = r.state.best;
}

/**
 * Makes the best weights so far cover every parameter the new phase changes: those the best
 * epoch did not train were, at that epoch, what they are now (the backbone, before it unfreezes).
 */
export function widenBest(state: FitState, runner: ModeRunner): void {
  if (!state.best) return;
  const missing = [...runner.changing.keys()].filter((n) => !state.best!.params.has(n));
  if (missing.length === 0) return;
  const params = new Map(state.best.params);
  for (const [n, t] of cloneTensors(runner.changing, missing)) params.set(n, t);
  state.best = { ...state.best, params };
}
