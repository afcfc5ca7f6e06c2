/**
 * One phase's events — phase_start, batch_end after each batch, phase_end — and the stop
 * check between batches. The training loop's train and val phases and the feature
 * extraction report through the same reporter, so listeners see one protocol.
 */
import { TrainingError } from '../errors.js';
import type { Phase, TrainEvents } from './events.js';

type PhaseEventName = 'phase_start' | 'batch_end' | 'phase_end';
export type PhaseEmit = <K extends PhaseEventName>(name: K, payload: TrainEvents[K]) => Promise<void>;

/** Thrown between batches when the run's AbortSignal fires; the partial epoch is discarded. */
export class RunInterrupted extends TrainingError {
  constructor() {
    super('E_INTERRUPTED', 'the run was interrupted');
  }
}

export interface PhaseStats {
  /** Mean loss over the phase's images (null where a phase has no loss: feature extraction). */
  loss: number | null;
  acc: number | null;
  images: number;
  seconds: number;
}

export class PhaseReporter {
  private batches = 0;
  private readonly started = performance.now();

  constructor(
    private readonly emit: PhaseEmit,
    private readonly epoch: number | null,
    private readonly phase: Phase,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async start(batches: number, images: number): Promise<void> {
    this.batches = batches;
    await this.emit('phase_start', { epoch: this.epoch, phase: this.phase, batches, images });
  }

  /** Throws RunInterrupted when the run must stop now. */
  checkStop(): void {
    if (this.signal?.aborted) throw new RunInterrupted();
  }

  async batch(batch: number, images: number, loss: number | null = null, acc: number | null = null, step?: { batch_loss: number; lr: number }): Promise<void> {
    await this.emit('batch_end', { epoch: this.epoch, phase: this.phase, batch, batches: this.batches, images, loss, acc, ...step });
  }

  async end(loss: number | null, acc: number | null, images: number): Promise<PhaseStats> {
    const seconds = (performance.now() - this.started) / 1000;
    await this.emit('phase_end', { epoch: this.epoch, phase: this.phase, loss, acc, images, seconds, images_per_s: seconds > 0 ? images / seconds : 0 });
    return { loss, acc, images, seconds };
  }
}
