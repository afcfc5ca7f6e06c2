/**
 * The optimiser as a run configures it: a zod schema (a discriminated union on `type`, unknown
 * keys rejected) whose defaults are the torchvision fine-tuning recipe for SGD (lr 0.001,
 * momentum 0.9) and torch's for Adam/AdamW, and `createOptimizer`, which builds it over
 * parameter groups. A group's own hyperparameters (e.g. a smaller lr for the backbone, for
 * discriminative fine-tuning) override the config's.
 */
import { z } from 'zod';
import { Adam, AdamOptionsSchema, AdamW, AdamWOptionsSchema, type AdamParamGroup } from './adam.js';
import type { Optimizer, Param } from './optimizer.js';
import { parseOptions } from './parse-options.js';
import { SGD, SGDOptionsSchema, type SGDParamGroup } from './sgd.js';

// The run's optimiser config extends each optimiser's own options (one declaration each);
// only SGD's defaults differ: a run's SGD is the torchvision recipe's (lr 1e-3, momentum 0.9),
// where the class keeps torch's (no momentum).
const SgdConfig = SGDOptionsSchema.extend({
  type: z.literal('sgd'),
  lr: z.number().min(0).default(1e-3),
  momentum: SGDOptionsSchema.shape.momentum
    .unwrap()
    .default(0.9)
    .meta(SGDOptionsSchema.shape.momentum.meta() ?? {}),
});
const AdamConfig = AdamOptionsSchema.extend({ type: z.literal('adam') });
const AdamWConfig = AdamWOptionsSchema.extend({ type: z.literal('adamw') });

export const OPTIMIZER_TYPES = ['sgd', 'adam', 'adamw'] as const;
export const OptimizerConfigSchema = z.discriminatedUnion('type', [SgdConfig, AdamConfig, AdamWConfig]);
/** What a user writes (defaults optional). */
export type OptimizerConfigInput = z.input<typeof OptimizerConfigSchema>;
/** With defaults merged. */
export type OptimizerConfig = z.output<typeof OptimizerConfigSchema>;

/** A group for `createOptimizer`: its parameters and any hyperparameters of the chosen optimiser. */
export type OptimizerGroup = SGDParamGroup | AdamParamGroup;

/**
 * Builds the configured optimiser. `groups` is a list of parameter groups, or a plain list of
 * parameters (one group). Group hyperparameters that do not belong to the optimiser type are
 * rejected with a ConfigError.
 */
export function createOptimizer(config: OptimizerConfigInput, groups: readonly OptimizerGroup[] | readonly Param[]): Optimizer {
  const c = parseOptions(OptimizerConfigSchema, config, 'optimizer config');
  const gs = isParamList(groups) ? [{ params: groups }] : groups;
  switch (c.type) {
    case 'sgd': {
      const { type: _, ...options } = c;
      return new SGD(gs, options);
    }
    case 'adam': {
      const { type: _, ...options } = c;
      return new Adam(gs, options);
    }
    case 'adamw': {
      const { type: _, ...options } = c;
      return new AdamW(gs, options);
    }
  }
}

function isParamList(groups: readonly OptimizerGroup[] | readonly Param[]): groups is readonly Param[] {
  return groups.length > 0 && groups.every((g) => !('params' in g) && 'data' in g);
}
