/**
 * The optimiser and learning-rate schedule of a run, from its resolved configuration: the
 * optimiser's options as configured, over one parameter group — or two with `backboneLr`
 * (the pretrained parameters at their own rate, the new classifier at `lr`), or one per
 * model stage with `lrMult` (discriminative learning rates, src/train/stage-lrs.ts).
 */
import type { ModelSpec } from '../models/model-spec.js';
import type { LrScheduler } from '../optim/lr-scheduler.js';
import type { Optimizer, Param } from '../optim/optimizer.js';
import { createOptimizer, type OptimizerConfigInput, type OptimizerGroup } from '../optim/optimizer-config.js';
import { setNativeOptimThreads } from '../optim/native-optim.js';
import { createScheduler } from '../optim/scheduler-config.js';
import type { ResolvedTrainConfig } from './options.js';
import { stageParamGroups } from './stage-lrs.js';

export function createRunOptimizer(c: ResolvedTrainConfig, spec: ModelSpec, params: readonly Param[], stepsPerEpoch: number): { optimizer: Optimizer; scheduler: LrScheduler; groupNames: string[] } {
  const config = { ...c.optimizer, lr: c.lr } as OptimizerConfigInput;
  const isHead = (p: Param) => p.name.startsWith(`${spec.head.name}.`);
  const backbone = params.filter((p) => !isHead(p));
  let groups: OptimizerGroup[] | readonly Param[];
  let groupNames: string[];
  if (c.lrMult !== null && c.lrMult !== undefined && backbone.length > 0) {
    const stages = stageParamGroups(spec, params, c.lr, c.lrMult);
    groups = stages.map((g) => ({ params: g.params, lr: g.lr }));
    groupNames = stages.map((g) => g.stage);
  } else if (c.backboneLr === null || backbone.length === 0) {
    groups = params;
    groupNames = ['all'];
  } else {
    const two = [
      { name: 'backbone', params: backbone, lr: c.backboneLr },
      { name: spec.head.name, params: params.filter(isHead), lr: c.lr },
    ].filter((g) => g.params.length > 0);
    groups = two.map(({ params, lr }) => ({ params, lr }));
    groupNames = two.map((g) => g.name);
  }
  const optimizer = createOptimizer(config, groups);
  // The native optimiser update (when built) runs on the run's threads, as the training step does.
  setNativeOptimThreads(c.threads);
  const scheduler = createScheduler(c.scheduler, optimizer, { stepsPerEpoch: Math.max(1, stepsPerEpoch), epochs: c.epochs });
  return { optimizer, scheduler, groupNames };
}
