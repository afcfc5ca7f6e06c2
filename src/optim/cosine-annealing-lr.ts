/**
 * CosineAnnealingLR: anneals each group's lr from its base to `etaMin` over `tMax` steps, as
 * torch.optim.lr_scheduler.CosineAnnealingLR's closed form:
 *   lr(t) = etaMin + (base − etaMin)·(1 + cos(π·t / tMax)) / 2
 * (past tMax it rises again, as torch's does; size tMax to the run).
 */
import { z } from 'zod';
import type { Optimizer } from './optimizer.js';
import { LrScheduler } from './lr-scheduler.js';
import { parseOptions } from './parse-options.js';

export const CosineAnnealingLROptionsSchema = z.strictObject({
  /** Steps (of `interval`) from the base lr down to etaMin. */
  tMax: z.int().positive(),
  etaMin: z.number().min(0).default(0),
  interval: z.enum(['epoch', 'batch']).default('epoch'),
});
export type CosineAnnealingLROptions = z.input<typeof CosineAnnealingLROptionsSchema>;

export class CosineAnnealingLR extends LrScheduler {
  readonly type = 'cosine';
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: Optimizer, options: CosineAnnealingLROptions) {
    const o = parseOptions(CosineAnnealingLROptionsSchema, options, 'CosineAnnealingLR');
    super(optimizer, o.interval);
    this.tMax = o.tMax;
    this.etaMin = o.etaMin;
    this.apply();
  }

  lrAt(t: number): number[] {
    const c = 1 + Math.cos((Math.PI * t) / this.tMax);
    return this.baseLrs.map((b) => this.etaMin + ((b - this.etaMin) * c) / 2);
  }
}
