/**
 * The learning-rate range test (Smith 2015; fastai's LRFinder) over a mode's runner: the lr
 * grows exponentially from `startLr` to `endLr` over `numIt` training batches (every group
 * scaled alike, so discriminative ratios stay), the loss is smoothed with fastai's debiased
 * exponential average (beta 0.98), and the sweep stops early once the smoothed loss exceeds
 * `stopFactor` x its minimum (or is not finite). The runner's trained parameters (and
 * BatchNorm statistics) and its optimiser's state are put back afterwards, bit for bit: the
 * test leaves no trace on the run that follows.
 */
import { z } from 'zod';
import { parseOptions } from '../optim/parse-options.js';
import { suggestLrs, type LrSuggestion } from '../optim/lr-suggestions.js';
import { cloneTensors, copyInto } from './checkpoint.js';
import type { ModeRunner } from './mode-runner.js';

export const LrRangeTestOptionsSchema = z.strictObject({
  startLr: z.number().positive().default(1e-7),
  endLr: z.number().positive().default(10),
  numIt: z.int().min(8).default(100),
  stopFactor: z.number().gt(1).default(4),
  /** Smoothing of the loss (fastai's 0.98). */
  beta: z.number().min(0).lt(1).default(0.98),
});
export type LrRangeTestOptions = z.input<typeof LrRangeTestOptionsSchema>;

export interface LrRangeTestResult {
  /** The lr of each batch (the largest group's, when groups differ). */
  lrs: number[];
  /** Raw batch losses. */
  losses: number[];
  /** Debiased exponential average of the losses. */
  smoothed: number[];
  suggestions: LrSuggestion[];
  /** Why the sweep ended before numIt batches ('diverged'), or null. */
  stoppedEarly: string | null;
  numIt: number;
  startLr: number;
  endLr: number;
}

export async function lrRangeTest(runner: ModeRunner, options?: LrRangeTestOptions, onBatch?: (i: number, lr: number, smoothed: number) => void | Promise<void>): Promise<LrRangeTestResult> {
  const o = parseOptions(LrRangeTestOptionsSchema, options ?? {}, 'lrRangeTest');
  const { optimizer } = runner;
  const savedParams = cloneTensors(runner.changing);
  const savedOptimizer = optimizer.stateDict();
  const base = optimizer.getLr();
  const top = Math.max(...base);
  const ratios = base.map((lr) => (top > 0 ? lr / top : 1));
  const lrs: number[] = [];
  const losses: number[] = [];
  const smoothed: number[] = [];
  let stoppedEarly: string | null = null;
  let avg = 0;
  let best = Infinity;
  try {
    let i = 0;
    for (let epoch = 1; i < o.numIt && stoppedEarly === null; epoch++) {
      for await (const batch of runner.trainBatches(epoch)) {
        const lr = o.startLr * (o.endLr / o.startLr) ** (i / (o.numIt - 1));
        optimizer.setLr(ratios.map((r) => r * lr));
        const r = await runner.trainStep(batch, epoch, i);
        batch.release();
        avg = o.beta * avg + (1 - o.beta) * r.loss;
        const s = avg / (1 - o.beta ** (i + 1));
        if (!Number.isFinite(r.loss) || !Number.isFinite(s)) {
          stoppedEarly = `the loss became ${r.loss} at lr ${lr.toExponential(2)}`;
          break;
        }
        optimizer.step(r.grads);
        lrs.push(lr);
        losses.push(r.loss);
        smoothed.push(s);
        best = Math.min(best, s);
        await onBatch?.(i, lr, s);
        i++;
        if (i > 1 && s > o.stopFactor * best) {
          stoppedEarly = `the smoothed loss ${s.toPrecision(4)} exceeded ${o.stopFactor}x its minimum ${best.toPrecision(4)} at lr ${lr.toExponential(2)}`;
          break;
        }
        if (i >= o.numIt) break;
      }
      if (epoch > o.numIt) break; // an empty training set: no batches at all
    }
  } finally {
    copyInto(runner.changing, savedParams);
    optimizer.loadStateDict(savedOptimizer);
  }
  return { lrs, losses, smoothed, suggestions: lrs.length >= 2 ? suggestLrs(lrs, smoothed, o.numIt) : [], stoppedEarly, numIt: o.numIt, startLr: o.startLr, endLr: o.endLr };
}
