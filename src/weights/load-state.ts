import { z } from 'zod';
import { WeightsError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { sameShape, type NamedTensors } from '../tensor.js';

/**
 * Match a loaded state dict against the parameters a model expects: by name, then by
 * shape. A shape mismatch names the parameter and both shapes. When the only mismatches
 * are the classifier's parameters (a checkpoint trained for another class count), they are
 * left out so the caller re-initialises them, and the result says so. BatchNorm's
 * `num_batches_tracked` counters are ignored on both sides (they do not affect outputs).
 */
export interface StateMatch {
  /** Loaded tensors to use, in the model's expected order. */
  tensors: NamedTensors;
  /** Classifier parameters present with another shape, left for re-initialisation. */
  reinitialised: string[];
  /** Expected names absent from the checkpoint. */
  missing: string[];
  /** Checkpoint names the model does not have. */
  unexpected: string[];
  /** One line per thing worth telling the user (e.g. the re-initialised classifier). */
  notes: string[];
}

const OptionsSchema = z.strictObject({
  /** The classifier's parameter names (e.g. ['fc.weight', 'fc.bias']). */
  classifierNames: z.array(z.string()).default([]),
  /** Re-initialise a classifier whose shape differs (default); false makes it an error (e.g. for predict). */
  reinitialiseClassifier: z.boolean().default(true),
  /** Make missing or unexpected names an error. */
  strict: z.boolean().default(false),
});
export type MatchStateOptions = z.input<typeof OptionsSchema>;

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;
const ignored = (name: string) => name === 'num_batches_tracked' || name.endsWith('.num_batches_tracked');
const list = (names: string[], max = 5) =>
  names
    .slice(0, max)
    .map((n) => `\`${n}\``)
    .join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');

interface Mismatch {
  name: string;
  expected: readonly number[];
  found: readonly number[];
}

export function matchStateDict(expected: ReadonlyMap<string, readonly number[]>, loaded: NamedTensors, options?: MatchStateOptions): StateMatch {
  const { classifierNames, reinitialiseClassifier, strict } = parseOrThrow(OptionsSchema, options ?? {}, 'Invalid state-dict matching options');
  const classifier = new Set(classifierNames);

  const tensors: NamedTensors = new Map();
  const missing: string[] = [];
  const mismatches: Mismatch[] = [];
  for (const [name, shape] of expected) {
    if (ignored(name)) continue;
    const t = loaded.get(name);
    if (!t) missing.push(name);
    else if (sameShape(t.shape, shape)) tensors.set(name, t);
    else mismatches.push({ name, expected: shape, found: t.shape });
  }
  const unexpected = [...loaded.keys()].filter((n) => !expected.has(n) && !ignored(n));

  const describe = (m: Mismatch) => `Shape mismatch for \`${m.name}\`: expected ${fmt(m.expected)}, found ${fmt(m.found)}`;
  const others = mismatches.filter((m) => !classifier.has(m.name));
  if (others.length > 0) {
    const more = others.length > 1 ? ` (and ${others.length - 1} more: ${list(others.slice(1).map((m) => m.name))})` : '';
    throw new WeightsError('E_SHAPE_MISMATCH', describe(others[0]) + more, {
      hint: 'the weights were saved from another architecture or variant: check --model and --weights',
    });
  }
  const notes: string[] = [];
  const reinitialised = mismatches.map((m) => m.name);
  if (mismatches.length > 0) {
    const classes = mismatches[0].found[0];
    if (!reinitialiseClassifier) {
      throw new WeightsError('E_SHAPE_MISMATCH', describe(mismatches[0]), { hint: `use --num-classes ${classes} to keep the checkpoint's classifier` });
    }
    notes.push(
      `The checkpoint's classifier has ${classes} outputs and the model ${mismatches[0].expected[0]}: ${list(reinitialised)} ${reinitialised.length === 1 ? 'is' : 'are'} re-initialised, everything else is loaded`,
    );
  }
  if (strict && (missing.length > 0 || unexpected.length > 0)) {
    const parts = [missing.length ? `missing ${list(missing)}` : '', unexpected.length ? `unexpected ${list(unexpected)}` : ''].filter(Boolean);
    throw new WeightsError('E_WEIGHTS_MISMATCH', `The weights do not fit the model: ${parts.join('; ')}`, {
      hint: 'the weights were saved from another architecture or variant: check --model and --weights',
    });
  }
  if (missing.length > 0) notes.push(`${missing.length} parameter(s) not in the checkpoint keep their initial values: ${list(missing)}`);
  if (unexpected.length > 0) notes.push(`${unexpected.length} checkpoint tensor(s) are not used by the model: ${list(unexpected)}`);
  return { tensors, reinitialised, missing, unexpected, notes };
}
