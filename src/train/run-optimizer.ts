/**
 * The optimiser and learning-rate schedule of a run, from its resolved configuration: the
 * optimiser's options as configured, over one parameter group — or two with `backboneLr`
 * (the pretrained parameters at their own rate, the new classifier at `lr`).
 */
import type { ModelSpec } from '../models/model-spec.js';
import type { LrScheduler } from '../optim/lr-scheduler.js';
import type { Optimizer, Param } from '../optim/optimizer.js';
import { createOptimizer, type OptimizerConfigInput, type OptimizerGroup } from '../optim/optimizer-config.js';
import { createScheduler } from '../optim/scheduler-config.js';
import type { ResolvedTrainConfig } from './options.js';

export function createRunOptimizer(c: ResolvedTrainConfig, spec: ModelSpec, params: readonly Param[], stepsPerEpoch: number): { optimizer: Optimizer; scheduler: LrScheduler } {
  const config = { ...c.optimizer, lr: c.lr } as OptimizerConfigInput;
  const isHead = (p: Param) => p.name.startsWith(`${spec.head.name}.`);
  const backbone = params.filter((p) => !isHead(p));
  const groups: OptimizerGroup[] | readonly Param[] =
    c.backboneLr === null || backbone.length === 0
      ? params
      : [
          { params: backbone, lr: c.backboneLr },
          { params: params.filter(isHead), lr: c.lr },
        ].filter((g) => g.params.length > 0);
  const optimizer = createOptimizer(config, groups);
  const scheduler = createScheduler(c.scheduler, optimizer, { stepsPerEpoch: Math.max(1, stepsPerEpoch), epochs: c.epochs });
  return { optimizer, scheduler };
}
