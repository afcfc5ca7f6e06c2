/**
 * StepLR: multiplies each group's base lr by `gamma` every `stepSize` steps, as
 * torch.optim.lr_scheduler.StepLR: lr(t) = base · gamma^⌊t / stepSize⌋.
 */
import { z } from 'zod';
import type { Optimizer } from './optimizer.js';
import { LrScheduler } from './lr-scheduler.js';
import { parseOptions } from './parse-options.js';

export const StepLROptionsSchema = z.strictObject({
  /** Steps (of `interval`) between decays. */
  stepSize: z.int().positive(),
  gamma: z.number().min(0).default(0.1),
  interval: z.enum(['epoch', 'batch']).default('epoch'),
});
export type StepLROptions = z.input<typeof StepLROptionsSchema>;

export class StepLR extends LrScheduler {
  readonly type = 'step';
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: StepLROptions) {
    const o = parseOptions(StepLROptionsSchema, options, 'StepLR');
    super(optimizer, o.interval);
    this.stepSize = o.stepSize;
    this.gamma = o.gamma;
    this.apply();
  }

  lrAt(t: number): number[] {
    const k = Math.floor(t / this.stepSize);
    return this.baseLrs.map((b) => b * this.gamma ** k);
  }
}
