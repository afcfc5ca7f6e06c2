/**
 * The training loop, once for every mode — the PyTorch tutorial's train_model:
 *
 *   for each epoch:
 *     train phase: for each batch: step (forward + backward), stop if the loss is not finite,
 *                  optimiser step, per-batch schedule step
 *     per-epoch schedule step
 *     val phase:   for each batch: loss and accuracy with the current weights
 *     keep the weights of the best val accuracy (a new best must beat the old one strictly,
 *     so the earliest of equal epochs wins)
 *   restore the best weights
 *
 * A mode supplies only its batches and step functions (src/train/mode-runner.ts). Progress,
 * logs, checkpoints and early stopping are listeners on the events fired here.
 */
import { TrainingError } from '../errors.js';
import { appendEpoch, type History } from '../metrics/history.js';
import type { NamedTensors } from '../tensor.js';
import { cloneTensors, copyInto } from './checkpoint.js';
import type { RunBus, TrainContext } from './events.js';
import { PhaseMeter, type ModeRunner, type RunnerBatch, type ValPredictions } from './mode-runner.js';
import type { ResolvedTrainConfig } from './options.js';
import { PhaseReporter, RunInterrupted, type PhaseStats } from './phase-reporter.js';
import { concatFloat32 } from '../concat-floats.js';

export interface FitState {
  /** Last finished epoch (0 before the first). */
  epoch: number;
  history: History;
  best: { epoch: number; valAcc: number; params: NamedTensors } | null;
  /** Set by a listener (early stopping); the run ends after the current epoch. */
  stopReason: string | null;
}

export interface FitArgs {
  runner: ModeRunner;
  bus: RunBus;
  ctx: TrainContext;
  config: ResolvedTrainConfig;
  state: FitState;
  numClasses: number;
  signal?: AbortSignal;
  /** The epoch this call trains up to (default config.epochs; a phase of the run ends earlier). */
  lastEpoch?: number;
}

/** Trains epochs state.epoch+1 .. config.epochs; returns when done or stopped early, throws RunInterrupted when interrupted. */
export async function fit(a: FitArgs): Promise<void> {
  const { runner, bus, config, state } = a;
  for (let epoch = state.epoch + 1; epoch <= (a.lastEpoch ?? config.epochs); epoch++) {
    if (a.signal?.aborted) throw new RunInterrupted();
    const lr = runner.optimizer.getLr()[0];
    const lrs = groupLrs(runner);
    await bus.emit('epoch_start', { epoch, epochs: config.epochs, lr });
    const started = performance.now();

    const train = await trainPhase(a, epoch, lr);
    await runner.afterTrainPhase?.(epoch);
    const val = await evalPhase(a, epoch, false);
    if (!Number.isFinite(val.stats.loss)) throw diverged(a, val.stats.loss!, `epoch ${epoch} (val)`, lr);

    const record = {
      epoch,
      train_loss: train.loss!,
      train_acc: train.acc!,
      val_loss: val.stats.loss!,
      val_acc: val.stats.acc!,
      lr,
      seconds: (performance.now() - started) / 1000,
      images_per_s: train.seconds > 0 ? train.images / train.seconds : 0,
      ...(lrs ? { lrs } : {}),
    };
    state.history = appendEpoch(state.history, record);
    state.epoch = epoch;
    const isBest = state.best === null || record.val_acc > state.best.valAcc;
    if (isBest) {
      state.best = { epoch, valAcc: record.val_acc, params: cloneTensors(runner.changing) };
      await bus.emit('best', { epoch, val_acc: record.val_acc });
    }
    await bus.emit('epoch_end', { ...record, epochs: config.epochs, is_best: isBest });
    if (state.stopReason) break;
  }
}

async function trainPhase(a: FitArgs, epoch: number, lr: number): Promise<PhaseStats> {
  const { runner, numClasses } = a;
  const { optimizer, scheduler } = runner;
  const phase = new PhaseReporter((n, p) => a.bus.emit(n, p), epoch, 'train', a.signal);
  const meter = new PhaseMeter();
  await phase.start(runner.trainBatchCount, runner.trainImages);
  let index = 0;
  for await (const batch of runner.trainBatches(epoch)) {
    phase.checkStop();
    const r = await runner.trainStep(batch, epoch, index++);
    if (!Number.isFinite(r.loss)) throw diverged(a, r.loss, `epoch ${epoch}, batch ${index}/${runner.trainBatchCount}`, lr);
    const stepLr = Math.max(...optimizer.getLr());
    optimizer.step(r.grads);
    if (scheduler.interval === 'batch') scheduler.step();
    meter.add(r.loss, r.logits, r.accuracyLabels ?? batch.labels, numClasses);
    batch.release();
    await phase.batch(index, meter.images, meter.loss, meter.acc, { batch_loss: r.loss, lr: stepLr });
  }
  if (scheduler.interval === 'epoch') scheduler.step();
  return phase.end(meter.loss, meter.acc, meter.images);
}

/** The val phase; with `keep`, also the logits of every image (for the final metrics and report). */
async function evalPhase(a: Pick<FitArgs, 'runner' | 'numClasses' | 'signal'> & { bus?: RunBus }, epoch: number | null, keep: boolean): Promise<{ stats: PhaseStats; preds?: ValPredictions }> {
  const { runner, numClasses } = a;
  const emit = a.bus ? (n: Parameters<RunBus['emit']>[0], p: never) => a.bus!.emit(n, p) : async () => {};
  const phase = new PhaseReporter(emit as never, epoch, 'val', a.signal);
  const meter = new PhaseMeter();
  await phase.start(runner.valBatchCount, runner.valImages);
  const logits: Float32Array[] = [];
  const labels: Int32Array[] = [];
  const paths: string[] = [];
  let index = 0;
  for await (const batch of runner.valBatches()) {
    phase.checkStop();
    const r = await runner.evalStep(batch);
    meter.add(r.loss, r.logits, batch.labels, numClasses);
    if (keep) {
      logits.push(r.logits.slice());
      labels.push(batch.labels.slice());
      paths.push(...batch.paths);
    }
    batch.release();
    await phase.batch(++index, meter.images, meter.loss, meter.acc);
  }
  const stats = await phase.end(meter.loss, meter.acc, meter.images);
  return keep ? { stats, preds: { logits: concatFloat32(logits), labels: Int32Array.from(labels.flatMap((l) => Array.from(l))), paths } } : { stats };
}

/** Puts the best epoch's weights back into the live parameters, and predicts the val images with them. */
export async function restoreBestAndPredict(runner: ModeRunner<RunnerBatch>, state: FitState, numClasses: number): Promise<ValPredictions> {
  if (state.best) copyInto(runner.changing, state.best.params);
  return (await evalPhase({ runner, numClasses }, null, true)).preds!;
}

function diverged(a: FitArgs, loss: number, where: string, lr: number): TrainingError {
  const ckpt = a.ctx.lastCheckpoint;
  return new TrainingError('E_DIVERGED', `The training loss became ${loss} at ${where} with lr ${formatLr(lr)}: the run diverged and was stopped`, {
    hint: `lower --lr (now ${formatLr(a.config.lr)})${ckpt ? `; the last good checkpoint (epoch ${a.state.epoch}) is kept at ${ckpt}` : '; no epoch had finished, so there is no checkpoint'}`,
  });
}

/** The lr of each parameter group by name, when the runner has several named groups. */
function groupLrs(runner: ModeRunner): Record<string, number> | undefined {
  const names = runner.groupNames;
  const values = runner.optimizer.getLr();
  if (!names || names.length < 2 || names.length !== values.length) return undefined;
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

function formatLr(lr: number): string {
  return lr !== 0 && (Math.abs(lr) >= 1e4 || Math.abs(lr) < 1e-3) ? lr.toExponential() : String(lr);
}
