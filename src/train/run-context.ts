/**
 * The context listeners see inside a run (src/train/events.ts): the run's folder,
 * configuration, classes and history, the last checkpoint written, a stop request, and
 * `snapshot()`, everything a checkpoint holds as of the last finished epoch. It is created
 * with the run's configuration, before the run's first event, so no event of a run fires
 * without it.
 */
import { TrainingError } from '../errors.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, cloneTensors, type CheckpointState } from './checkpoint.js';
import type { TrainContext, TrainListener } from './events.js';
import type { FitState } from './fit.js';
import type { ModeRunner } from './mode-runner.js';
import type { ResolvedTrainConfig } from './options.js';

export interface RunContextArgs {
  out: string;
  config: ResolvedTrainConfig;
  classes: readonly string[];
  state: FitState;
  /** The runner, once created (after feature extraction, a phase of the run). */
  runner: () => ModeRunner | undefined;
  /** A resumed run's checkpoint, until the run writes its own. */
  lastCheckpoint: string | null;
  featureKey?: () => string | undefined;
  emit: TrainContext['emit'];
}

/** The context, and the listener that keeps its `lastCheckpoint` current (add it to the bus). */
export function createRunContext(a: RunContextArgs): { ctx: TrainContext; tracker: TrainListener } {
  const { state, config } = a;
  let lastCheckpoint = a.lastCheckpoint;
  const ctx: TrainContext = {
    out: a.out,
    config,
    classes: a.classes,
    get history() {
      return state.history;
    },
    get lastCheckpoint() {
      return lastCheckpoint;
    },
    requestStop(reason) {
      state.stopReason ??= reason;
    },
    snapshot(): CheckpointState {
      const runner = a.runner();
      if (!runner) throw new TrainingError('E_INTERNAL', 'snapshot() before the run has its runner (a bug: checkpoints are taken at epoch ends)');
      const featureKey = a.featureKey?.();
      return {
        format: CHECKPOINT_FORMAT,
        version: CHECKPOINT_VERSION,
        epoch: state.epoch,
        config,
        classes: [...a.classes],
        params: cloneTensors(runner.changing),
        optimizer: runner.optimizer.stateDict(),
        scheduler: runner.scheduler.stateDict(),
        // Every random draw is keyed by (seed, epoch, index), so this is the whole random state.
        rng: [config.seed, state.epoch],
        history: state.history,
        best: state.best,
        ...(featureKey ? { featureKey } : {}),
      };
    },
    emit: (name, payload) => a.emit(name, payload),
  };
  return { ctx, tracker: { checkpoint: (e) => void (lastCheckpoint = e.path) } };
}
