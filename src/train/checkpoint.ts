/**
 * The checkpoint of a run (checkpoint.bin): everything needed to continue it exactly —
 * the parameters training changes, the optimiser's and scheduler's state dicts, the random
 * state, the finished epoch, the history and the best weights so far — in Node's v8
 * serialisation (structured clone: Maps and Float32Arrays round-trip bit for bit). It is
 * written atomically (src/atomic-write.ts), so a crash never leaves a partial file.
 *
 * Binary layout: 8 magic bytes `HSCKPT01`, then the v8.serialize bytes of CheckpointState.
 */
import v8 from 'node:v8';
import { z } from 'zod';
import type { ResolvedTrainConfig } from './options.js';
import { TrainingError } from '../errors.js';
import type { OptimizerStateDict } from '../optim/optimizer.js';
import type { SchedulerStateDict } from '../optim/lr-scheduler.js';
import { sameShape, type NamedTensors } from '../tensor.js';
import { writeFileAtomic } from '../atomic-write.js';
import { readFileOrThrow } from '../read-file.js';
import type { History } from '../metrics/history.js';
import { describeZodIssues } from '../zod-issues.js';

export const CHECKPOINT_FORMAT = 'headstart-checkpoint';
export const CHECKPOINT_VERSION = 2;
const MAGIC = Buffer.from('HSCKPT01', 'latin1');

export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  /** The last finished epoch (1-based). */
  epoch: number;
  config: ResolvedTrainConfig;
  classes: string[];
  /** Current values of the parameters training changes. */
  params: NamedTensors;
  optimizer: OptimizerStateDict;
  scheduler: SchedulerStateDict;
  /** State of the run's random source (src/random.ts). */
  rng: number[];
  history: History;
  /** The best val accuracy so far and the values of `params` at that epoch. */
  best: { epoch: number; valAcc: number; params: NamedTensors } | null;
  /** Identifies the cached features a features-mode run trains on. */
  featureKey?: string;
}

const TensorMap = z.custom<NamedTensors>(
  (v) =>
    v instanceof Map && [...(v as Map<string, { data?: unknown; shape?: unknown } | undefined>).values()].every((t) => t !== undefined && t.data instanceof Float32Array && Array.isArray(t.shape)),
  'expected a map of float32 tensors',
);

const StateSchema = z.looseObject({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  epoch: z.int().min(0),
  config: z.looseObject({ mode: z.enum(['finetune', 'features']), model: z.string() }),
  classes: z.array(z.string()).min(1),
  params: TensorMap,
  optimizer: z.looseObject({ type: z.string(), groups: z.array(z.unknown()), state: z.record(z.string(), z.unknown()) }),
  scheduler: z.looseObject({ type: z.string(), t: z.int().min(0) }),
  rng: z.array(z.number()),
  history: z.looseObject({ epochs: z.array(z.looseObject({ epoch: z.int() })) }),
  best: z.looseObject({ epoch: z.int(), valAcc: z.number(), params: TensorMap }).nullable(),
  featureKey: z.string().optional(),
});

export function encodeCheckpoint(state: CheckpointState): Buffer {
  return Buffer.concat([MAGIC, v8.serialize(state)]);
}

export function decodeCheckpoint(bytes: Uint8Array, source = 'checkpoint'): CheckpointState {
  const hint = 'the file is not a headstart checkpoint, or it was written by another version; start a fresh run without --resume';
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < MAGIC.length || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new TrainingError('E_BAD_CHECKPOINT', `${source} does not start with the headstart checkpoint header`, { hint });
  }
  let raw: unknown;
  try {
    raw = v8.deserialize(buf.subarray(MAGIC.length));
  } catch (cause) {
    throw new TrainingError('E_BAD_CHECKPOINT', `${source} is damaged: its contents cannot be read back (the file was cut short or overwritten)`, { hint, cause });
  }
  const r = StateSchema.safeParse(raw);
  if (!r.success) {
    throw new TrainingError('E_BAD_CHECKPOINT', `${source} is not a valid checkpoint: ${describeZodIssues(r.error)}`, { hint });
  }
  return raw as CheckpointState;
}

/** Writes a checkpoint atomically. */
export async function writeCheckpoint(path: string, state: CheckpointState): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(state));
}

export async function readCheckpoint(path: string): Promise<CheckpointState> {
  const bytes = await readFileOrThrow(path, 'the checkpoint', 'pass the run folder of an interrupted run (it holds checkpoint.bin) to --resume');
  return decodeCheckpoint(bytes, `\`${path}\``);
}

/** A deep copy of named tensors (for best weights and snapshots). */
export function cloneTensors(tensors: NamedTensors, names?: Iterable<string>): NamedTensors {
  const out: NamedTensors = new Map();
  for (const name of names ?? tensors.keys()) {
    const t = tensors.get(name);
    if (!t) continue;
    out.set(name, { dtype: t.dtype, shape: [...t.shape], data: (t.data as Float32Array).slice() });
  }
  return out;
}

/** Copies values into existing tensors in place (sessions hold references to them). */
export function copyInto(target: NamedTensors, values: NamedTensors): void {
  for (const [name, t] of values) {
    const dst = target.get(name);
    if (!dst) throw new TrainingError('E_BAD_CHECKPOINT', `The checkpoint holds \`${name}\`, which this model does not have`, { hint: 'resume with the same --model the run was started with' });
    if (!sameShape(dst.shape, t.shape)) {
      throw new TrainingError('E_SHAPE_MISMATCH', `Shape mismatch for \`${name}\` in the checkpoint: expected [${dst.shape}], found [${t.shape}]`, {
        hint: 'resume with the same --model and dataset classes',
      });
    }
    (dst.data as Float32Array).set(t.data as Float32Array);
  }
}
