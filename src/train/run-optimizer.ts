/**
 * The optimiser and learning-rate schedule of a run, from its resolved configuration
 * (src/optim builds them; this maps the run's flat config onto their schemas).
 */
import type { ResolvedTrainConfig } from './options.js';
import type { LrScheduler } from '../optim/lr-scheduler.js';
import type { Optimizer, Param } from '../optim/optimizer.js';
import { createOptimizer } from '../optim/optimizer-config.js';
import { createScheduler, type SchedulerConfigInput } from '../optim/scheduler-config.js';

export function schedulerConfig(c: ResolvedTrainConfig): SchedulerConfigInput {
  switch (c.scheduler) {
    case 'step':
      return { type: 'step', stepSize: c.stepSize, gamma: c.gamma };
    case 'cosine':
      return { type: 'cosine', etaMin: c.etaMin };
    case 'onecycle':
      return { type: 'onecycle', maxLr: c.maxLr, pctStart: c.pctStart };
    case 'none':
      return { type: 'none' };
  }
}

export function createRunOptimizer(c: ResolvedTrainConfig, params: readonly Param[], stepsPerEpoch: number): { optimizer: Optimizer; scheduler: LrScheduler } {
  const optimizer =
    c.optimizer === 'sgd'
      ? createOptimizer({ type: 'sgd', lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay }, params)
      : createOptimizer({ type: 'adamw', lr: c.lr, betas: [c.momentum, 0.999], weightDecay: c.weightDecay }, params);
  const scheduler = createScheduler(schedulerConfig(c), optimizer, { stepsPerEpoch: Math.max(1, stepsPerEpoch), epochs: c.epochs });
  return { optimizer, scheduler };
}
