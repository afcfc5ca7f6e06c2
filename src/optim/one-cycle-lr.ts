/**
 * OneCycleLR (Smith's 1cycle), per batch, as torch.optim.lr_scheduler.OneCycleLR (1.13):
 * the lr rises from maxLr/divFactor to maxLr over the first pctStart of the steps, then
 * anneals to maxLr/divFactor/finalDivFactor; with threePhase it first comes back down to
 * maxLr/divFactor and anneals to the minimum in a third phase. Momentum (SGD's momentum or
 * Adam's beta1) cycles the opposite way between maxMomentum and baseMomentum, as torch's
 * cycle_momentum does by default; note that this turns momentum on for a plain SGD.
 *
 * `maxLr` may be one number, one per group, or omitted: then each group's current lr is its
 * peak, which keeps discriminative learning rates' ratios.
 *
 * `convention: 'fastai'` places step t at t/totalSteps of the cycle, as fastai's ParamScheduler
 * does (pct_train = train_iter / n_iter): the last step never reaches the final lr. torch puts
 * the last step at the final lr, which over a handful of steps (fastai's one frozen epoch on a
 * small dataset) throws away the largest step.
 */
import { z } from 'zod';
import { ConfigError, TrainingError } from '../errors.js';
import type { Optimizer } from './optimizer.js';
import { LrScheduler, perGroup } from './lr-scheduler.js';
import { parseOptions } from './parse-options.js';

const PerGroupNumber = z.union([z.number().min(0), z.array(z.number().min(0)).min(1)]);

export const OneCycleLROptionsSchema = z.strictObject({
  /** Peak lr: one number, one per group, or omitted (each group's lr). */
  maxLr: PerGroupNumber.optional(),
  /** Number of `step()` calls the cycle spans (epochs × batches per epoch). */
  totalSteps: z.int().positive(),
  pctStart: z.number().min(0).max(1).default(0.3),
  anneal: z.enum(['cos', 'linear']).default('cos'),
  divFactor: z.number().positive().default(25),
  finalDivFactor: z.number().positive().default(1e4),
  threePhase: z.boolean().default(false),
  cycleMomentum: z.boolean().default(true),
  baseMomentum: PerGroupNumber.default(0.85),
  maxMomentum: PerGroupNumber.default(0.95),
  interval: z.enum(['epoch', 'batch']).default('batch'),
  convention: z.enum(['torch', 'fastai']).default('torch'),
});
export type OneCycleLROptions = z.input<typeof OneCycleLROptionsSchema>;

type Anchor = 'initial' | 'max' | 'min';
interface Phase {
  endStep: number;
  startLr: Anchor;
  endLr: Anchor;
  startMomentum: 'max' | 'base';
  endMomentum: 'max' | 'base';
}

export class OneCycleLR extends LrScheduler {
  readonly type = 'onecycle';
  readonly totalSteps: number;
  readonly divFactor: number;
  readonly finalDivFactor: number;
  readonly cycleMomentum: boolean;
  readonly convention: 'torch' | 'fastai';
  private readonly phases: Phase[];
  private readonly annealFn: (start: number, end: number, pct: number) => number;
  private readonly baseMomentum: number[];
  private readonly maxMomentum: number[];

  constructor(optimizer: Optimizer, options: OneCycleLROptions) {
    const o = parseOptions(OneCycleLROptionsSchema, options, 'OneCycleLR');
    super(optimizer, o.interval);
    const groups = optimizer.groupCount;
    if (o.maxLr !== undefined) this.baseLrs = perGroup(o.maxLr, groups, 'OneCycleLR maxLr');
    this.totalSteps = o.totalSteps;
    this.divFactor = o.divFactor;
    this.finalDivFactor = o.finalDivFactor;
    this.cycleMomentum = o.cycleMomentum;
    this.convention = o.convention;
    if (o.convention === 'fastai' && o.threePhase) {
      throw new ConfigError('E_BAD_OPTION', "OneCycleLR: convention 'fastai' has two phases; threePhase is torch's", { hint: "drop threePhase, or use convention 'torch'" });
    }
    this.baseMomentum = perGroup(o.baseMomentum, groups, 'OneCycleLR baseMomentum');
    this.maxMomentum = perGroup(o.maxMomentum, groups, 'OneCycleLR maxMomentum');
    this.annealFn = o.anneal === 'cos' ? annealCos : annealLinear;
    const total = o.totalSteps;
    const p = o.pctStart;
    this.phases = o.threePhase
      ? [
          { endStep: p * total - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
          { endStep: 2 * p * total - 2, startLr: 'max', endLr: 'initial', startMomentum: 'base', endMomentum: 'max' },
          { endStep: total - 1, startLr: 'initial', endLr: 'min', startMomentum: 'max', endMomentum: 'max' },
        ]
      : [
          { endStep: p * total - 1, startLr: 'initial', endLr: 'max', startMomentum: 'max', endMomentum: 'base' },
          { endStep: total - 1, startLr: 'max', endLr: 'min', startMomentum: 'base', endMomentum: 'max' },
        ];
    // torch divides by each phase's length; an empty phase would give 0/0.
    let start = 0;
    if (o.convention === 'torch')
      for (const [i, ph] of this.phases.entries()) {
        if (!(ph.endStep > start)) {
          throw new ConfigError('E_BAD_OPTION', `OneCycleLR: phase ${i + 1} of ${this.phases.length} is empty with totalSteps ${total} and pctStart ${p}`, {
            hint: 'use more steps, or a pctStart further from 0 and 1 (e.g. 0.3)',
          });
        }
        start = ph.endStep;
      }
    this.apply();
  }

  /** Phase index and fraction through it at step t (torch's search, including its last-phase overrun). */
  private locate(t: number): { phase: Phase; pct: number } {
    if (t > this.totalSteps) {
      throw new TrainingError('E_BAD_OPTION', `OneCycleLR: stepped ${t} times, more than totalSteps ${this.totalSteps}`, {
        hint: 'totalSteps must cover every step: epochs × batches per epoch',
      });
    }
    if (this.convention === 'fastai') return this.locateFastai(t);
    let start = 0;
    for (let i = 0; i < this.phases.length; i++) {
      const ph = this.phases[i];
      if (t <= ph.endStep || i === this.phases.length - 1) return { phase: ph, pct: (t - start) / (ph.endStep - start) };
      start = ph.endStep;
    }
    throw new TrainingError('E_INTERNAL', `OneCycleLR: step ${t} lies in no phase (a bug in headstart: please report it)`);
  }

  /** fastai's combine_scheds: position t/total, phase boundary at pctStart. */
  private locateFastai(t: number): { phase: Phase; pct: number } {
    const pos = t / this.totalSteps;
    const [rise, fall] = this.phases;
    const boundary = (rise.endStep + 1) / this.totalSteps;
    return pos < boundary ? { phase: rise, pct: pos / boundary } : { phase: fall, pct: (pos - boundary) / (1 - boundary) };
  }

  lrAt(t: number): number[] {
    const { phase, pct } = this.locate(t);
    return this.baseLrs.map((maxLr) => {
      const initial = maxLr / this.divFactor;
      const anchors = { initial, max: maxLr, min: initial / this.finalDivFactor };
      return this.annealFn(anchors[phase.startLr], anchors[phase.endLr], pct);
    });
  }

  override momentumAt(t: number): number[] | undefined {
    if (!this.cycleMomentum) return undefined;
    const { phase, pct } = this.locate(t);
    return this.baseLrs.map((_, i) => {
      const anchors = { max: this.maxMomentum[i], base: this.baseMomentum[i] };
      return this.annealFn(anchors[phase.startMomentum], anchors[phase.endMomentum], pct);
    });
  }
}

function annealCos(start: number, end: number, pct: number): number {
  const cosOut = Math.cos(Math.PI * pct) + 1;
  return end + ((start - end) / 2) * cosOut;
}

function annealLinear(start: number, end: number, pct: number): number {
  return (end - start) * pct + start;
}
