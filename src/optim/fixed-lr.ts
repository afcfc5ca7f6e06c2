/** FixedLR: no schedule; every group keeps its base lr (the `none` scheduler, and a warm-up's target). */
import { z } from 'zod';
import type { Optimizer } from './optimizer.js';
import { LrScheduler } from './lr-scheduler.js';
import { parseOptions } from './parse-options.js';

export const FixedLROptionsSchema = z.strictObject({
  interval: z.enum(['epoch', 'batch']).default('epoch'),
});
export type FixedLROptions = z.input<typeof FixedLROptionsSchema>;

export class FixedLR extends LrScheduler {
  readonly type = 'fixed';

  constructor(optimizer: Optimizer, options?: FixedLROptions) {
    const o = parseOptions(FixedLROptionsSchema, options, 'FixedLR');
    super(optimizer, o.interval);
    this.apply();
  }

  lrAt(_t: number): number[] {
    return [...this.baseLrs];
  }
}
