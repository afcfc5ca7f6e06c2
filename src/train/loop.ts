/**
 * The epoch loop, the same for both modes (reference: the PyTorch tutorial's train_model):
 * each epoch a train phase and a val phase; the weights of the best val accuracy are kept
 * (a new best must beat the old one strictly, so the earliest of equal epochs wins) and
 * restored at the end. Everything else — progress, logs, checkpoints, early stopping — is
 * a listener on the events fired here.
 */
import type { ResolvedTrainConfig } from './options.js';
import { TrainingError } from '../errors.js';
import type { NamedTensors } from '../tensor.js';
import { cloneTensors, copyInto } from './checkpoint.js';
import type { EpochRunner, PhaseHooks } from './epoch-runner.js';
import type { EventBus, Phase } from './events.js';
import { appendEpoch, type History } from '../metrics/history.js';

/** Thrown inside a phase when the run's AbortSignal fires; the partial epoch is discarded. */
export class RunInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

export interface LoopState {
  /** Last finished epoch (0 before the first). */
  epoch: number;
  history: History;
  best: { epoch: number; valAcc: number; params: NamedTensors } | null;
  /** Set by a listener (early stopping) or the loop; the run ends after the current epoch. */
  stopReason: string | null;
}

export interface LoopArgs {
  runner: EpochRunner;
  bus: EventBus;
  config: ResolvedTrainConfig;
  state: LoopState;
  signal?: AbortSignal;
  /** Where the last good checkpoint is, for the message of a diverged run. */
  checkpointPath: () => string | null;
}

export function phaseHooks(bus: EventBus, epoch: number, phase: Phase, signal: AbortSignal | undefined, onNonFinite: (loss: number, batch: number, batches: number) => Error): PhaseHooks & { batches: number } {
  const hooks = {
    batches: 0,
    images: 0,
    started: 0,
    async start(batches: number, images: number) {
      hooks.batches = batches;
      hooks.images = images;
      hooks.started = performance.now();
      await bus.emit('phase_start', { epoch, phase, batches, images });
    },
    async batch(batch: number, images: number, loss: number, acc: number) {
      await bus.emit('batch_end', { epoch, phase, batch, batches: hooks.batches, images, loss, acc });
    },
    checkStop() {
      if (signal?.aborted) throw new RunInterrupted();
    },
    nonFinite: onNonFinite,
  };
  return hooks;
}

/** Runs epochs state.epoch+1 .. config.epochs; returns when done, stopped early, or interrupted (throws RunInterrupted). */
export async function runEpochs(a: LoopArgs): Promise<void> {
  const { runner, bus, config, state } = a;
  for (let epoch = state.epoch + 1; epoch <= config.epochs; epoch++) {
    if (a.signal?.aborted) throw new RunInterrupted();
    const lr = runner.optimizer.getLr()[0];
    await bus.emit('epoch_start', { epoch, epochs: config.epochs, lr });
    const started = performance.now();
    const nonFinite = (loss: number, batch: number, batches: number) => {
      const ckpt = a.checkpointPath();
      const where = batch > 0 ? `epoch ${epoch}, batch ${batch}/${batches}` : `epoch ${epoch} (val)`;
      return new TrainingError(`The training loss became ${loss} at ${where} with lr ${formatLr(lr)}: the run diverged and was stopped`, {
        hint: `lower --lr (now ${formatLr(config.lr)})${ckpt ? `; the last good checkpoint (epoch ${state.epoch}) is kept at ${ckpt}` : '; no epoch had finished, so there is no checkpoint'}`,
      });
    };
    const train = await runner.trainEpoch(epoch, phaseHooks(bus, epoch, 'train', a.signal, nonFinite));
    const trainRate = train.seconds > 0 ? train.images / train.seconds : 0;
    await bus.emit('phase_end', { epoch, phase: 'train', ...train, images_per_s: trainRate });
    const val = await runner.evalEpoch(epoch, phaseHooks(bus, epoch, 'val', a.signal, nonFinite));
    await bus.emit('phase_end', { epoch, phase: 'val', ...val, images_per_s: val.seconds > 0 ? val.images / val.seconds : 0 });
    if (!Number.isFinite(val.loss)) throw nonFinite(val.loss, 0, 0);

    const record = {
      epoch,
      train_loss: train.loss,
      train_acc: train.acc,
      val_loss: val.loss,
      val_acc: val.acc,
      lr,
      seconds: (performance.now() - started) / 1000,
      images_per_s: trainRate,
    };
    state.history = appendEpoch(state.history, record);
    state.epoch = epoch;
    const isBest = state.best === null || val.acc > state.best.valAcc;
    if (isBest) {
      state.best = { epoch, valAcc: val.acc, params: cloneTensors(runner.changing) };
      await bus.emit('best', { epoch, val_acc: val.acc });
    }
    await bus.emit('epoch_end', { ...record, epochs: config.epochs, is_best: isBest });
    if (state.stopReason) break;
  }
}

function formatLr(lr: number): string {
  return lr !== 0 && (Math.abs(lr) >= 1e4 || Math.abs(lr) < 1e-3) ? lr.toExponential() : String(lr);
}

/** Puts the best epoch's weights back into the live parameters. */
export function restoreBest(runner: EpochRunner, state: LoopState): void {
  if (state.best) copyInto(runner.changing, state.best.params);
}
