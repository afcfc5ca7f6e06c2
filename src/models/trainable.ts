import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
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

/**
 * True when `name` starts with `prefix` at a name boundary: the prefix ends the name or is
 * followed by `.`, `_` or `/` (torchvision's `features.1.conv.0.weight`, Keras's
 * `block_1_expand.weight`). So `features.1` does not match `features.10.x`, nor `block_1`
 * `block_10_expand`.
 */
export function underPrefix(name: string, prefix: string): boolean {
  if (!name.startsWith(prefix)) return false;
  const next = name.charAt(prefix.length);
  return next === '' || next === '.' || next === '_' || next === '/';
}

/** The stage (one of `stages`) a parameter belongs to: the longest matching prefix, or undefined. */
export function stageOf(name: string, stages: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const s of stages) if (underPrefix(name, s) && (!best || s.length > best.length)) best = s;
  return best;
}

/** The backbone's stages, input to output (the spec's stages without the head). */
export function backboneStages(spec: ModelSpec): string[] {
  return spec.stages.filter((s) => s !== spec.head.name);
}

export function trainableFilter(spec: ModelSpec, options: TrainableOptions): (name: string) => boolean {
  const { mode, unfreezeLast } = parseOrThrow(
    OptionsSchema,
    options,
    `Invalid trainable options ${JSON.stringify(options)}`,
    "mode is 'finetune' or 'features'; unfreezeLast is a whole number of stages",
  );
  const all = spec.stages.includes(spec.head.name) ? spec.stages : [...spec.stages, spec.head.name];
  const isHead = (name: string) => stageOf(name, all) === spec.head.name;
  if (mode === 'features') {
    if (unfreezeLast !== undefined && unfreezeLast > 0) {
      throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `unfreezeLast ${unfreezeLast} contradicts mode 'features' (only the head trains)`, { hint: "use mode 'finetune' with unfreezeLast" });
    }
    return isHead;
  }
  if (unfreezeLast === undefined) return () => true;
  const stages = backboneStages(spec);
  if (unfreezeLast > stages.length) {
    throw new ConfigError('E_BAD_OPTION', `unfreezeLast ${unfreezeLast} is more than the ${stages.length} stages of ${spec.name}`, {
      hint: `choose 0 to ${stages.length}; the stages are ${stages.join(', ')}`,
    });
  }
  const open = new Set(stages.slice(stages.length - unfreezeLast));
  open.add(spec.head.name);
  return (name) => open.has(stageOf(name, all) ?? '');
}
