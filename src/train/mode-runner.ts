/**
 * What the training loop (src/train/fit.ts) needs from a training mode: batches and one step
 * function per phase, the optimiser and schedule, and the live parameters training changes.
 * Fine-tuning (src/train/finetune-runner.ts) runs images through the whole network;
 * feature extraction (src/train/head-runner.ts) runs cached features through the head alone.
 * Everything else — the epochs, phases, scheduler stepping, the non-finite check, the best
 * weights, events — is the loop's, the same for every mode.
 */
import { argmaxRow, logSumExpRow } from '../metrics/classification.js';
import type { LrScheduler } from '../optim/lr-scheduler.js';
import type { Gradients, Optimizer } from '../optim/optimizer.js';
import type { NamedTensors } from '../tensor.js';

/** A batch of a phase: its labels and files, and a release() the loop calls once it is used. */
export interface RunnerBatch {
  readonly labels: Int32Array;
  readonly paths: readonly string[];
  release(): void;
}

export interface TrainStepResult {
  /** Mean loss of the batch. */
  loss: number;
  /** Row-major [batch, classes]. */
  logits: Float32Array;
  /** Gradients of the trainable parameters; nothing has been updated yet. */
  grads: Gradients;
  /** The labels train accuracy counts against when they are not the batch's (MixUp/CutMix: the dominant label of each pair). */
  accuracyLabels?: Int32Array;
}

export interface EvalStepResult {
  loss: number;
  logits: Float32Array;
}

export interface ModeRunner<B extends RunnerBatch = RunnerBatch> {
  readonly trainImages: number;
  readonly valImages: number;
  readonly trainBatchCount: number;
  readonly valBatchCount: number;
  readonly optimizer: Optimizer;
  readonly scheduler: LrScheduler;
  /** The parameters training changes, live (sessions read them; restore by copying into them). */
  readonly changing: NamedTensors;
  /** A name per optimiser parameter group (a model stage with discriminative rates), for the history's per-group lr columns. */
  readonly groupNames?: readonly string[];
  /** The training batches of an epoch, in the epoch's seeded order. */
  trainBatches(epoch: number): AsyncIterable<B>;
  /** Forward and backward of one training batch (`index` keys its dropout masks). */
  trainStep(batch: B, epoch: number, index: number): Promise<TrainStepResult>;
  valBatches(): AsyncIterable<B>;
  /** Loss and logits of a val batch with the current weights. */
  evalStep(batch: B): Promise<EvalStepResult>;
  /** Work between an epoch's train and val phases (progressive resizing: BatchNorm statistics at the final size). */
  afterTrainPhase?(epoch: number): Promise<void>;
  release(): Promise<void>;
  /** The engine of the training step, where there is a choice (fine-tuning: train-engine.ts), and why. */
  readonly engine?: { engine: 'onnx' | 'native'; /** The val phase's engine (fine-tuning). */ val?: 'onnx' | 'native'; note: string };
}

export interface ValPredictions {
  /** Row-major [N, numClasses]. */
  logits: Float32Array;
  labels: Int32Array;
  paths: string[];
}

/** Running loss/accuracy of a phase. */
export class PhaseMeter {
  private lossSum = 0;
  private correct = 0;
  images = 0;

  add(loss: number, logits: Float32Array, labels: Int32Array, numClasses: number): void {
    const n = labels.length;
    this.lossSum += loss * n;
    this.images += n;
    for (let i = 0; i < n; i++) if (argmaxRow(logits, i, numClasses) === labels[i]) this.correct++;
  }

  get loss(): number {
    return this.images ? this.lossSum / this.images : 0;
  }

  get acc(): number {
    return this.images ? this.correct / this.images : 0;
  }
}

/** Mean softmax cross-entropy of logits against targets built by crossEntropyCoefficients (sum of C * -log p). */
export function coefficientLoss(logits: Float32Array, coefficients: Float32Array, numClasses: number): number {
  const n = logits.length / numClasses;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const o = i * numClasses;
    const lse = logSumExpRow(logits, i, numClasses);
    for (let c = 0; c < numClasses; c++) loss += coefficients[o + c] * (lse - logits[o + c]);
  }
  return loss;
}
