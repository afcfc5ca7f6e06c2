/**
 * LinearWarmup: ramps each group's lr linearly from startFactor × target up to the target over
 * `steps` steps, then hands over to the wrapped scheduler, which starts at its own t = 0.
 * The target is the wrapped scheduler's value at t = 0 (its base lrs; maxLr/divFactor for
 * one-cycle). Equivalent to torch's
 *   SequentialLR(opt, [LinearLR(opt, startFactor, total_iters=steps), inner], milestones=[steps])
 * with LinearLR's closed form lr(t) = target · (startFactor + (1 − startFactor)·t / steps).
 * During the warm-up, momentum stays at the wrapped scheduler's t = 0 value.
 */
import { z } from 'zod';
import { TrainingError } from '../errors.js';
import { LrScheduler, type SchedulerStateDict } from './lr-scheduler.js';
import { parseOptions } from './parse-options.js';

export const LinearWarmupOptionsSchema = z.strictObject({
  /** Warm-up length, in steps of the wrapped scheduler's interval (epochs or batches). */
  steps: z.int().positive(),
  /** Fraction of the target lr at t = 0; torch's LinearLR default. */
  startFactor: z
    .number()
    .gt(0)
    .max(1)
    .default(1 / 3),
});
export type LinearWarmupOptions = z.input<typeof LinearWarmupOptionsSchema>;

export class LinearWarmup extends LrScheduler {
  readonly type = 'warmup';
  readonly inner: LrScheduler;
  readonly steps: number;
  readonly startFactor: number;

  constructor(inner: LrScheduler, options: LinearWarmupOptions) {
    const o = parseOptions(LinearWarmupOptionsSchema, options, 'LinearWarmup');
    super(inner.optimizer, inner.interval);
    this.inner = inner;
    this.steps = o.steps;
    this.startFactor = o.startFactor;
    this.baseLrs = inner.lrAt(0);
    this.apply();
  }

  lrAt(t: number): number[] {
    if (t >= this.steps) return this.inner.lrAt(t - this.steps);
    const s = this.startFactor;
    return this.baseLrs.map((b) => b * (s + ((1 - s) * t) / this.steps));
  }

  override momentumAt(t: number): number[] | undefined {
    return this.inner.momentumAt(Math.max(0, t - this.steps));
  }

  override stateDict(): SchedulerStateDict {
    const s = super.stateDict();
    // The inner scheduler's own counter is never advanced: the warm-up evaluates it directly.
    return { ...s, inner: this.inner.stateDict() };
  }

  override restoreState(state: SchedulerStateDict): void {
    if (state?.inner === undefined) {
      throw new TrainingError('E_BAD_CHECKPOINT', `warmup scheduler loadStateDict: the state dict has no \`inner\` scheduler state`, {
        hint: 'resume with the scheduler configuration the checkpoint was trained with',
      });
    }
    const innerBefore = this.inner.stateDict();
    this.inner.restoreState(state.inner);
    try {
      super.restoreState(state);
    } catch (e) {
      this.inner.restoreState(innerBefore);
      throw e;
    }
  }
}
