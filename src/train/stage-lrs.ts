/**
 * Discriminative learning rates (fastai's `lr_mult` / `slice(lr/lr_mult, lr)`): one parameter
 * group per stage of the model's spec (its `splitter`), input to output, with a geometric ramp
 * from `lr / lrMult` at the first stage to `lr` at the classifier. The ramp spans every stage,
 * trainable or not (as fastai spreads it over all groups of a partly frozen model); stages
 * with no trainable parameter leave no group. A parameter that no stage names joins the first
 * stage's group (the lowest rate).
 */
import { stageOf } from '../models/trainable.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { Param } from '../optim/optimizer.js';

export interface StageGroup {
  /** The stage's parameter-name prefix (e.g. `layer4`, `fc`). */
  stage: string;
  lr: number;
  params: Param[];
}

/** The stages of the spec, input to output, the head last. */
function allStages(spec: ModelSpec): string[] {
  const backbone = spec.stages.filter((s) => s !== spec.head.name);
  return [...backbone, spec.head.name];
}

/** lr of stage i of n: lr / lrMult at i = 0 rising geometrically to lr at i = n - 1. */
function stageLr(lr: number, lrMult: number, i: number, n: number): number {
  return n <= 1 ? lr : lr / lrMult ** ((n - 1 - i) / (n - 1));
}

export function stageParamGroups(spec: ModelSpec, params: readonly Param[], lr: number, lrMult: number): StageGroup[] {
  const stages = allStages(spec);
  const groups: StageGroup[] = stages.map((stage, i) => ({ stage, lr: stageLr(lr, lrMult, i, stages.length), params: [] }));
  const index = new Map(stages.map((s, i) => [s, i]));
  for (const p of params) groups[index.get(stageOf(p.name, stages) ?? stages[0]) ?? 0].params.push(p);
  return groups.filter((g) => g.params.length > 0);
}
