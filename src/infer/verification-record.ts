/**
 * The self-check a classifier file carries (metadata_props key `headstart.verification`): a
 * few validation images as PNG bytes, already resized and cropped to the model's input, the
 * preprocessing they were recorded with, the statistics of the normalised input tensor, and
 * the expected top-k probabilities (and score / unknown). `compareSample` decides whether a
 * runtime's observation of one sample matches, and names the first difference. No Node
 * built-ins and no ONNX Runtime here, so the browser check shares it.
 */
import { z } from 'zod';
import { PreprocessSpecSchema, type PreprocessSpec } from '../data/preprocess.js';
import { WeightsError } from '../errors.js';
import { describeZodIssues } from '../zod-issues.js';

export const VERIFICATION_KEY = 'headstart.verification';
/** The largest difference of a probability (or score, or input statistic) that still matches. */
export const VERIFY_TOLERANCE = 1e-4;

const rgb = z.tuple([z.number(), z.number(), z.number()]);

export const VerificationSampleSchema = z.strictObject({
  /** File name of the image it was made from, and its class (null when unknown). */
  name: z.string(),
  label: z.string().nullable(),
  /** PNG bytes (base64) of the RGB image at the model's input size. */
  png: z.string().min(1),
  /** Per-channel mean and standard deviation of the normalised input tensor. */
  inputMean: rgb,
  inputStd: rgb,
  /** The top-k of the `probabilities` output (or of softmax(logits) for a file without it). */
  top: z.array(z.strictObject({ index: z.number().int().nonnegative(), probability: z.number() })).min(1),
  score: z.number().optional(),
  unknown: z.boolean().optional(),
});
export type VerificationSample = z.infer<typeof VerificationSampleSchema>;

export const VerificationRecordSchema = z.strictObject({
  format: z.literal('headstart-verification'),
  version: z.literal(1),
  tolerance: z.number().positive(),
  /** The preprocessing the expectations were recorded with (the model's, at export). */
  preprocess: PreprocessSpecSchema,
  samples: z.array(VerificationSampleSchema).min(1),
});
export type VerificationRecord = z.infer<typeof VerificationRecordSchema>;

export function parseVerificationRecord(text: string, where: string): VerificationRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new WeightsError('E_BAD_MODEL_FILE', `${where}: the \`${VERIFICATION_KEY}\` metadata is not valid JSON`, { hint: 'the file was edited or truncated; re-export it', cause: err });
  }
  const r = VerificationRecordSchema.safeParse(value);
  if (!r.success) throw new WeightsError('E_BAD_MODEL_FILE', `${where}: invalid \`${VERIFICATION_KEY}\` metadata: ${describeZodIssues(r.error)}`, { hint: 'the file was edited; re-export it' });
  return r.data;
}

/** What a runtime produced for one sample. */
export interface SampleObservation {
  inputMean: readonly number[];
  inputStd: readonly number[];
  /** All k probabilities. */
  probabilities: ArrayLike<number>;
  score?: number;
  unknown?: boolean;
}

const fmt = (v: number) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(6) : v.toExponential(4));
const list = (v: readonly number[]) => `[${v.map((x) => String(x)).join(', ')}]`;

/** The fields of the stored preprocessing that differ from the recorded one, in words; empty when equal. */
export function preprocessDifferences(stored: PreprocessSpec, recorded: PreprocessSpec): string[] {
  const out: string[] = [];
  for (const key of Object.keys(recorded) as (keyof PreprocessSpec)[]) {
    const a = JSON.stringify(stored[key]);
    const b = JSON.stringify(recorded[key]);
    if (a !== b) out.push(`\`${key}\` is ${a}, recorded ${b}`);
  }
  return out;
}

/**
 * The first difference between an observation and the record for sample `i`, in words, or
 * null when everything is within the tolerance. `runtime` names the preprocessing the runtime
 * used, for the message.
 */
export function compareSample(record: VerificationRecord, i: number, seen: SampleObservation, classes: readonly string[], runtime: { mean: readonly number[]; std: readonly number[] }): string | null {
  const s = record.samples[i];
  const tol = record.tolerance;
  const where = `sample ${i + 1} (\`${s.name}\`)`;
  for (let c = 0; c < 3; c++) {
    for (const [what, got, want] of [
      ['mean', seen.inputMean[c], s.inputMean[c]],
      ['std', seen.inputStd[c], s.inputStd[c]],
    ] as const) {
      if (!(Math.abs(got - want) <= tol)) {
        return (
          `${where}: the preprocessed input differs: channel ${c} ${what} ${fmt(got)}, expected ${fmt(want)}; ` +
          `this runtime normalised with mean ${list(runtime.mean)} std ${list(runtime.std)}, the expectations were recorded with mean ${list(record.preprocess.mean)} std ${list(record.preprocess.std)}`
        );
      }
    }
  }
  for (const { index, probability } of s.top) {
    const got = seen.probabilities[index];
    if (!(Math.abs(got - probability) <= tol)) {
      return `${where}: probability of class \`${classes[index] ?? index}\` is ${fmt(got)}, expected ${fmt(probability)} (difference ${fmt(Math.abs(got - probability))}, tolerance ${tol})`;
    }
  }
  if (s.score !== undefined && seen.score !== undefined && !(Math.abs(seen.score - s.score) <= tol * Math.max(1, Math.abs(s.score)))) {
    return `${where}: score is ${fmt(seen.score)}, expected ${fmt(s.score)}`;
  }
  if (s.unknown !== undefined && seen.unknown !== undefined && seen.unknown !== s.unknown) {
    return `${where}: unknown is ${seen.unknown}, expected ${s.unknown}`;
  }
  return null;
}

/** Per-channel mean and (population) standard deviation of a CHW tensor of one image. */
export function channelStats(tensor: ArrayLike<number>, size: number, offset = 0): { mean: [number, number, number]; std: [number, number, number] } {
  const plane = size * size;
  const mean: [number, number, number] = [0, 0, 0];
  const std: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let s = 0;
    let s2 = 0;
    for (let p = offset + c * plane, end = p + plane; p < end; p++) {
      s += tensor[p];
      s2 += tensor[p] * tensor[p];
    }
    mean[c] = s / plane;
    std[c] = Math.sqrt(Math.max(0, s2 / plane - mean[c] * mean[c]));
  }
  return { mean, std };
}
