/**
 * The optimiser as a run configures it: a zod schema (a discriminated union on `type`, unknown
 * keys rejected) whose defaults are the torchvision fine-tuning recipe for SGD (lr 0.001,
 * momentum 0.9) and torch's for Adam/AdamW, and `createOptimizer`, which builds it over
 * parameter groups. A group's own hyperparameters (e.g. a smaller lr for the backbone, for
 * discriminative fine-tuning) override the config's.
 */
import { z } from 'zod';
import { Adam, AdamW, type AdamParamGroup } from './adam.js';
import type { Optimizer, Param } from './optimizer.js';
import { parseOptions } from './parse-options.js';
import { SGD, type SGDParamGroup } from './sgd.js';

const Beta = z.number().min(0).lt(1);

const SgdConfig = z.strictObject({
  type: z.literal('sgd'),
  lr: z.number().min(0).default(1e-3),
  momentum: z.number().min(0).default(0.9),
  dampening: z.number().default(0),
  nesterov: z.boolean().default(false),
  weightDecay: z.number().min(0).default(0),
});

const adamConfig = <T extends 'adam' | 'adamw'>(type: T, weightDecay: number) =>
  z.strictObject({
    type: z.literal(type),
    lr: z.number().min(0).default(1e-3),
    betas: z.tuple([Beta, Beta]).default([0.9, 0.999]),
    eps: z.number().min(0).default(1e-8),
    weightDecay: z.number().min(0).default(weightDecay),
    amsgrad: z.boolean().default(false),
  });

export const OptimizerConfigSchema = z.discriminatedUnion('type', [SgdConfig, adamConfig('adam', 0), adamConfig('adamw', 1e-2)]);
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
      return new SGD(gs as readonly SGDParamGroup[], options);
    }
    case 'adam': {
      const { type: _, ...options } = c;
      return new Adam(gs as readonly AdamParamGroup[], options);
    }
    case 'adamw': {
      const { type: _, ...options } = c;
      return new AdamW(gs as readonly AdamParamGroup[], options);
    }
  }
}

function isParamList(groups: readonly OptimizerGroup[] | readonly Param[]): groups is readonly Param[] {
  return groups.length > 0 && groups.every((g) => !('params' in g) && 'data' in g);
}
