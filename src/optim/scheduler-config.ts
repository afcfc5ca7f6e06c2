/**
 * The learning-rate schedule as a run configures it: a zod schema (a discriminated union on
 * `type`, unknown keys rejected, optional linear `warmup` on every type) and `createScheduler`,
 * which turns it into a scheduler for a run of `epochs` × `stepsPerEpoch` batches.
 *
 * Units: `stepSize` and `tMax` are in epochs. `interval` says when the trainer calls step():
 * 'epoch' (torch's usual StepLR/cosine use, the default) or 'batch' (sizes are then converted
 * to batches: StepLR still decays at epoch boundaries, cosine decays smoothly). One-cycle is
 * always per batch. A warm-up given in `steps` (batches) needs the per-batch interval, which
 * then becomes the default. The scheduler after a warm-up starts at its own t = 0 (torch's
 * SequentialLR): a cosine without `tMax` spans the rest of the run, one-cycle's totalSteps is
 * the batches left after the warm-up, and StepLR's decays count from the warm-up's end.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { CosineAnnealingLR } from './cosine-annealing-lr.js';
import { FixedLR } from './fixed-lr.js';
import { LinearWarmup } from './linear-warmup.js';
import type { LrScheduler, SchedulerInterval } from './lr-scheduler.js';
import { OneCycleLR } from './one-cycle-lr.js';
import type { Optimizer } from './optimizer.js';
import { parseOptions } from './parse-options.js';
import { StepLR } from './step-lr.js';

const Interval = z.enum(['epoch', 'batch']).meta({ help: 'when the schedule steps: after each epoch (default) or each batch', flag: 'lr-interval' });
const PerGroupNumber = z.union([z.number().min(0), z.array(z.number().min(0)).min(1)]);

const WarmupConfigSchema = z
  .strictObject({
    epochs: z.int().positive().optional().meta({ help: 'linear warm-up over the first N epochs', flag: 'warmup-epochs' }),
    /** Batches; implies the per-batch interval. */
    steps: z.int().positive().optional().meta({ help: 'linear warm-up over the first N batches', flag: 'warmup-steps' }),
    startFactor: z
      .number()
      .gt(0)
      .max(1)
      .default(1 / 3)
      .meta({ help: 'warm-up starts at this fraction of the lr', flag: 'warmup-start-factor', placeholder: 'X' }),
  })
  .refine((w) => (w.epochs === undefined) !== (w.steps === undefined), {
    message: 'give exactly one of warmup.epochs or warmup.steps',
  });

export const SCHEDULER_TYPES = ['step', 'cosine', 'onecycle', 'none'] as const;

export const SchedulerConfigSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('none'),
    interval: Interval.optional(),
    warmup: WarmupConfigSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('step'),
    /** Epochs between decays (torchvision recipe: 7). */
    stepSize: z.int().positive().default(7).meta({ help: 'StepLR: epochs between decays' }),
    gamma: z.number().min(0).default(0.1).meta({ help: 'StepLR: decay factor', placeholder: 'X' }),
    interval: Interval.optional(),
    warmup: WarmupConfigSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('cosine'),
    /** Epochs from the base lr to etaMin; default: the rest of the run after the warm-up. */
    tMax: z.int().positive().optional().meta({ help: 'cosine: epochs from the lr to --eta-min (default: the rest of the run)' }),
    etaMin: z.number().min(0).default(0).meta({ help: 'cosine: the lowest lr', placeholder: 'X' }),
    interval: Interval.optional(),
    warmup: WarmupConfigSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('onecycle'),
    /** Peak lr: one number, one per group, or omitted (each group's configured lr). */
    maxLr: PerGroupNumber.optional().meta({ help: 'one-cycle: the peak lr (default 10 x lr)', placeholder: 'X', kind: 'number' }),
    pctStart: z.number().min(0).max(1).default(0.3).meta({ help: 'one-cycle: fraction of the steps rising to the peak', placeholder: 'X' }),
    anneal: z.enum(['cos', 'linear']).default('cos').meta({ help: 'one-cycle: annealing shape' }),
    divFactor: z.number().positive().default(25).meta({ help: 'one-cycle: initial lr = peak / X', placeholder: 'X' }),
    finalDivFactor: z.number().positive().default(1e4).meta({ help: 'one-cycle: final lr = initial / X', placeholder: 'X' }),
    threePhase: z.boolean().default(false).meta({ help: "one-cycle: fast.ai's three phases" }),
    cycleMomentum: z.boolean().default(true).meta({ help: 'one-cycle: cycle the momentum (or beta1) inversely to the lr', flagHelp: 'one-cycle: keep the momentum fixed (no cycling)' }),
    baseMomentum: PerGroupNumber.default(0.85).meta({ help: 'one-cycle: the lowest momentum', placeholder: 'X', kind: 'number' }),
    maxMomentum: PerGroupNumber.default(0.95).meta({ help: 'one-cycle: the highest momentum', placeholder: 'X', kind: 'number' }),
    convention: z.enum(['torch', 'fastai']).default('torch').meta({ help: "one-cycle: where steps sit on the cycle: torch's (the last step at the final lr) or fastai's (step t at t/steps)" }),
    warmup: WarmupConfigSchema.optional(),
  }),
]);
export type SchedulerConfigInput = z.input<typeof SchedulerConfigSchema>;
export type SchedulerConfig = z.output<typeof SchedulerConfigSchema>;

const RunShapeSchema = z.strictObject({
  stepsPerEpoch: z.int().positive(),
  epochs: z.int().positive(),
});
export type RunShape = z.input<typeof RunShapeSchema>;

/**
 * Builds the configured schedule over `optimizer` (whose current lrs are the base lrs) for a
 * run of `epochs` epochs of `stepsPerEpoch` batches. The result's `interval` tells the trainer
 * whether to call step() after every batch or after every epoch.
 */
export function createScheduler(config: SchedulerConfigInput, optimizer: Optimizer, run: RunShape): LrScheduler {
  const c = parseOptions(SchedulerConfigSchema, config, 'scheduler config');
  const { stepsPerEpoch, epochs } = parseOptions(RunShapeSchema, run, 'createScheduler run');
  const interval = resolveInterval(c);
  const perEpoch = interval === 'batch' ? stepsPerEpoch : 1;
  const total = epochs * perEpoch;
  const warmup = c.warmup === undefined ? 0 : (c.warmup.steps ?? c.warmup.epochs! * perEpoch);
  if (warmup >= total) {
    throw new ConfigError('E_BAD_OPTION', `scheduler config: the warm-up (${warmup} ${interval === 'batch' ? 'batches' : 'epochs'}) covers the whole run (${total})`, {
      hint: 'shorten warmup or train for more epochs',
    });
  }

  let inner: LrScheduler;
  switch (c.type) {
    case 'none':
      inner = new FixedLR(optimizer, { interval });
      break;
    case 'step':
      inner = new StepLR(optimizer, { stepSize: c.stepSize * perEpoch, gamma: c.gamma, interval });
      break;
    case 'cosine':
      inner = new CosineAnnealingLR(optimizer, {
        tMax: c.tMax === undefined ? total - warmup : c.tMax * perEpoch,
        etaMin: c.etaMin,
        interval,
      });
      break;
    case 'onecycle': {
      const { type: _, warmup: __, ...options } = c;
      inner = new OneCycleLR(optimizer, { ...options, totalSteps: total - warmup, interval });
      break;
    }
  }
  return warmup > 0 ? new LinearWarmup(inner, { steps: warmup, startFactor: c.warmup!.startFactor }) : inner;
}

function resolveInterval(c: SchedulerConfig): SchedulerInterval {
  if (c.type === 'onecycle') return 'batch';
  const byWarmup = c.warmup?.steps !== undefined ? 'batch' : undefined;
  if (c.interval === 'epoch' && byWarmup) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `scheduler config: warmup.steps counts batches, but interval is 'epoch'`, {
      hint: "give warmup.epochs instead, or set interval: 'batch'",
    });
  }
  return c.interval ?? byWarmup ?? 'epoch';
}
