import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { ModelSpec } from './model-spec.js';

/**
 * Which parameters train, by parameter-name prefix, so the three classic recipes are one
 * mechanism over `spec.stages`:
 *   - 'features': feature extraction, only the head trains;
 *   - 'finetune': everything trains;
 *   - 'finetune' with `unfreezeLast: k`: the last k stages of the backbone plus the head.
 * A stage listed in `spec.stages` that is the head itself is not counted as a backbone stage.
 * Frozen parameters get no gradient, and a BatchNorm whose affine parameters are frozen runs
 * in inference mode (NetBuilder), so its running statistics do not change.
 */
const OptionsSchema = z.strictObject({
  mode: z.enum(['finetune', 'features']),
  unfreezeLast: z.number().int().nonnegative().optional(),
});
export type TrainableOptions = z.input<typeof OptionsSchema>;

/** True when `name` is the parameter `prefix` or lies under it (`features.1` does not match `features.10.x`). */
export function underPrefix(name: string, prefix: string): boolean {
  return name === prefix || name.startsWith(`${prefix}.`);
}

/** The backbone's stages, input to output (the spec's stages without the head). */
export function backboneStages(spec: ModelSpec): string[] {
  return spec.stages.filter((s) => s !== spec.head.name);
}

export function trainableFilter(spec: ModelSpec, options: TrainableOptions): (name: string) => boolean {
  const parsed = OptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new ConfigError(`Invalid trainable options ${JSON.stringify(options)}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      hint: "mode is 'finetune' or 'features'; unfreezeLast is a whole number of stages",
    });
  }
  const { mode, unfreezeLast } = parsed.data;
  const isHead = (name: string) => underPrefix(name, spec.head.name);
  if (mode === 'features') {
    if (unfreezeLast !== undefined && unfreezeLast > 0) {
      throw new ConfigError(`unfreezeLast ${unfreezeLast} contradicts mode 'features' (only the head trains)`, { hint: "use mode 'finetune' with unfreezeLast" });
    }
    return isHead;
  }
  if (unfreezeLast === undefined) return () => true;
  const stages = backboneStages(spec);
  if (unfreezeLast > stages.length) {
    throw new ConfigError(`unfreezeLast ${unfreezeLast} is more than the ${stages.length} stages of ${spec.name}`, {
      hint: `choose 0 to ${stages.length}; the stages are ${stages.join(', ')}`,
    });
  }
  const open = stages.slice(stages.length - unfreezeLast);
  return (name) => isHead(name) || open.some((p) => underPrefix(name, p));
}
