/**
 * What the epoch loop needs from a training mode: a train phase and a val phase per epoch,
 * the optimiser and schedule, and the live parameters that training changes. Fine-tuning
 * (src/train/finetune-runner.ts) runs images through the whole network; feature extraction
 * (src/train/head-runner.ts) runs cached features through the head alone. The loop
 * (src/train/loop.ts) is the same for both.
 */
import type { LrScheduler } from '../optim/lr-scheduler.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { NamedTensors } from '../tensor.js';

export interface PhaseStats {
  /** Mean loss over the phase's images. */
  loss: number;
  acc: number;
  images: number;
  seconds: number;
}

/** Callbacks a runner calls during a phase. */
export interface PhaseHooks {
  start(batches: number, images: number): Promise<void>;
  /** After each batch, with the phase's running mean loss and accuracy. */
  batch(batch: number, images: number, loss: number, acc: number): Promise<void>;
  /** Throws when the run must stop now (interrupted). */
  checkStop(): void;
  /** Builds the error for a non-finite loss (the runner throws it before updating anything). */
  nonFinite(loss: number, batch: number, batches: number): Error;
}

export interface ValPredictions {
  /** Row-major [N, numClasses]. */
  logits: Float32Array;
  labels: Int32Array;
  paths: string[];
}

export interface EpochRunner {
  readonly trainImages: number;
  readonly valImages: number;
  readonly optimizer: Optimizer;
  readonly scheduler: LrScheduler;
  /** The parameters training changes, live (sessions read them; restore by copying into them). */
  readonly changing: NamedTensors;
  /** Trains one epoch (and steps a per-epoch schedule at its end). */
  trainEpoch(epoch: number, hooks: PhaseHooks): Promise<PhaseStats>;
  evalEpoch(epoch: number, hooks: PhaseHooks): Promise<PhaseStats>;
  /** Val logits with the current weights (for the final metrics and report). */
  predictVal(): Promise<ValPredictions>;
  release(): Promise<void>;
}

/** Running loss/accuracy of a phase. */
export class PhaseMeter {
  private lossSum = 0;
  private correct = 0;
  images = 0;
  readonly started = performance.now();

  add(loss: number, logits: Float32Array, labels: Int32Array, numClasses: number): void {
    const n = labels.length;
    this.lossSum += loss * n;
    this.images += n;
    for (let i = 0; i < n; i++) {
      const o = i * numClasses;
      let best = 0;
      for (let c = 1; c < numClasses; c++) if (logits[o + c] > logits[o + best]) best = c;
      if (best === labels[i]) this.correct++;
    }
  }

  get loss(): number {
    return this.images ? this.lossSum / this.images : 0;
  }

  get acc(): number {
    return this.images ? this.correct / this.images : 0;
  }

  stats(): PhaseStats {
    return { loss: this.loss, acc: this.acc, images: this.images, seconds: (performance.now() - this.started) / 1000 };
  }
}

/** Mean softmax cross-entropy of logits against targets built by crossEntropyCoefficients (sum of C * -log p). */
export function coefficientLoss(logits: Float32Array, coefficients: Float32Array, numClasses: number): number {
  const n = logits.length / numClasses;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const o = i * numClasses;
    let max = -Infinity;
    for (let c = 0; c < numClasses; c++) max = Math.max(max, logits[o + c]);
    let sum = 0;
    for (let c = 0; c < numClasses; c++) sum += Math.exp(logits[o + c] - max);
    const lse = max + Math.log(sum);
    for (let c = 0; c < numClasses; c++) loss += coefficients[o + c] * (lse - logits[o + c]);
  }
  return loss;
}
