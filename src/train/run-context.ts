/**
 * The context listeners see (src/train/events.ts): the run's folder, configuration, classes
 * and history, a stop request, and `snapshot()`, everything a checkpoint holds as of the last
 * finished epoch.
 */
import type { ResolvedTrainConfig } from './options.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, cloneTensors, type CheckpointState } from './checkpoint.js';
import type { EpochRunner } from './epoch-runner.js';
import type { EventBus, TrainContext } from './events.js';
import type { LoopState } from './loop.js';

export interface RunContextArgs {
  out: string;
  config: ResolvedTrainConfig;
  classes: readonly string[];
  state: LoopState;
  bus: EventBus;
  /** The runner, once created. */
  runner: () => EpochRunner | undefined;
  featureKey?: () => string | undefined;
}

export function createRunContext(a: RunContextArgs): TrainContext {
  const { state, config } = a;
  return {
    out: a.out,
    config,
    classes: a.classes,
    get history() {
      return state.history;
    },
    requestStop(reason) {
      state.stopReason ??= reason;
    },
    snapshot(): CheckpointState {
      const runner = a.runner();
      if (!runner) throw new Error('snapshot() before the run started');
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
    emit: (name, payload) => a.bus.emit(name, payload),
  };
}
