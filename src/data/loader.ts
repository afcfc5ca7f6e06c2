/**
 * createLoader: an async iterator of batches {images (NCHW float32), labels, paths, indices}.
 *
 * - Order: a seeded shuffle per epoch (torch.randperm's algorithm on Random.derive(seed, epoch)).
 * - Augmentation: sample i of epoch e draws from Random.derive(seed, e, i), so results do not
 *   depend on which decode finishes first: same seed and epoch, same batches, bit for bit.
 * - Parallel decoding: up to `concurrency` images in flight (libvips works off the main
 *   thread); a prefetch window of `prefetch` batches is filled ahead of the consumer, so
 *   decoding overlaps the engine and memory stays at most prefetch + 1 batches.
 * - A file that fails to load is dropped from its batch (the batch is shorter), reported
 *   once through `onSkip` and `skipped`, and not retried in later epochs of this loader.
 * - Last batch: kept (shorter) or dropped (`dropLast`).
 * - Buffers: `batch.release()` recycles a batch's image buffer (at most prefetch + 2 kept).
 * - Worker threads (`workers`): the JS side of each decode (sharp's call setup, resampling,
 *   normalisation) then runs in a shared pool of threads instead of the main thread, so many
 *   cores can be kept busy; results are identical. Pipelines of custom transforms (no spec)
 *   always run in-process.
 * - Defaults of `concurrency` and `workers` can be set for a whole process with the environment
 *   variables HEADSTART_DECODE_CONCURRENCY and HEADSTART_DECODE_WORKERS (every command that
 *   loads images uses them); sharp's own threads are libuv's, UV_THREADPOOL_SIZE.
 */
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { isSampleError, readImageBytes, type SampleError } from './decode.js';
import { DecodePool } from './decode-pool.js';
import type { Pipeline } from './pipeline.js';
import { keyedRandom, permutation } from '../random.js';
import type { Sample } from './sample.js';

export interface Batch {
  /** [size, 3, height, width], normalised. */
  images: Float32Array;
  labels: Int32Array;
  paths: string[];
  /** Positions of the samples in the array given to createLoader. */
  indices: Int32Array;
  size: number;
  /**
   * Hands `images` back to the loader, which fills it again for a later batch. Optional:
   * call it once you are done with the batch (then do not touch `images` again). Fresh
   * multi-megabyte buffers cost page faults on every batch; recycled ones do not.
   */
  release(): void;
}

export interface SkippedFile {
  path: string;
  index: number;
  reason: string;
  error: SampleError;
}

export const LoaderOptionsSchema = z.strictObject({
  batchSize: z.number().int().positive().default(32),
  shuffle: z.boolean().default(false),
  seed: z.number().int().nonnegative().default(0),
  epoch: z.number().int().nonnegative().default(0),
  dropLast: z.boolean().default(false),
  /** Batches decoded ahead of the consumer. */
  prefetch: z.number().int().positive().default(2),
  /** Images decoded at the same time (default: $HEADSTART_DECODE_CONCURRENCY, else 2 per core, at least 4). */
  concurrency: z.number().int().positive().optional(),
  /** Decode worker threads; 0 decodes on the main thread (default: $HEADSTART_DECODE_WORKERS, else 0 up to 4 cores, else cores - 2, at most 8). */
  workers: z.number().int().nonnegative().max(64).optional(),
  /** Called once per file that fails to load. */
  onSkip: z.custom<(skipped: SkippedFile) => void>((v) => typeof v === 'function', { message: 'onSkip must be a function' }).optional(),
});

export type LoaderOptions = z.input<typeof LoaderOptionsSchema>;

export interface Loader extends AsyncIterable<Batch> {
  /** Batches per epoch (before skips). */
  readonly batchCount: number;
  /** [channels, height, width] of one image. */
  readonly imageShape: readonly [number, number, number];
  /** Files that failed to load so far, each once. */
  readonly skipped: readonly SkippedFile[];
  /** The batches of another epoch (the options' epoch is what iterating the loader gives). */
  epoch(epoch: number): AsyncIterable<Batch>;
}

class Deferred {
  promise: Promise<void>;
  resolve!: () => void;
  constructor() {
    this.promise = new Promise((r) => (this.resolve = r));
  }
}

interface BatchSlot {
  images: Float32Array;
  labels: Int32Array;
  paths: string[];
  indices: Int32Array;
  ok: Uint8Array;
  pending: number;
}

export function createLoader(samples: readonly Sample[], transform: Pipeline, options?: LoaderOptions): Loader {
  const o = parseOrThrow(LoaderOptionsSchema, options ?? {}, 'createLoader: invalid options', 'options are batchSize, shuffle, seed, epoch, dropLast, prefetch, concurrency, workers, onSkip');
  if (!transform.outputSize) {
    throw new ConfigError('E_BAD_OPTION', `createLoader: the pipeline ${transform.describe()} has no fixed output size`, { hint: 'end it with a crop (RandomResizedCrop or CenterCrop)' });
  }
  const { width, height } = transform.outputSize;
  const chw = 3 * width * height;
  const cores = availableParallelism();
  const concurrency = o.concurrency ?? envCount('HEADSTART_DECODE_CONCURRENCY', 1, 1024) ?? Math.max(4, 2 * cores);
  const workers = o.workers ?? envCount('HEADSTART_DECODE_WORKERS', 0, 64) ?? (cores > 4 ? Math.min(8, cores - 2) : 0);
  const spec = transform.spec;
  const inWorkers = workers > 0 && spec !== null;
  const pipelineKey = spec ? JSON.stringify(spec) : '';
  // Workers write into shared memory; ONNX Runtime refuses SharedArrayBuffer tensors, so a
  // finished batch is copied into an ordinary buffer (recycled like the rest).
  const shared: Float32Array[] = [];
  const n = samples.length;
  const batchCount = o.dropLast ? Math.floor(n / o.batchSize) : Math.ceil(n / o.batchSize);
  const skipped: SkippedFile[] = [];
  const bad = new Set<number>();
  const fullLength = o.batchSize * chw;
  const plain: Float32Array[] = [];
  const recycle = (images: Float32Array) => {
    const list = images.buffer instanceof SharedArrayBuffer ? shared : plain;
    if (images.length === fullLength && list.length < o.prefetch + 2 && !list.includes(images)) list.push(images);
  };
  const allocate = (length: number, inWorkers: boolean): Float32Array => {
    const list = inWorkers ? shared : plain;
    if (length === fullLength && list.length) return list.pop()!;
    return inWorkers ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float32Array(length);
  };

  const report = (index: number, err: SampleError) => {
    if (bad.has(index)) return;
    bad.add(index);
    const s: SkippedFile = { path: samples[index].path, index, reason: err.message, error: err };
    skipped.push(s);
    o.onSkip?.(s);
  };

  async function* iterate(epoch: number): AsyncGenerator<Batch> {
    const pool = inWorkers ? DecodePool.shared(workers) : null;
    const order = o.shuffle ? permutation(keyedRandom(o.seed, epoch), n) : Int32Array.from({ length: n }, (_, i) => i);
    const total = Math.min(n, batchCount * o.batchSize);
    const slots = new Map<number, BatchSlot>();
    let next = 0; // next position in `order` to schedule
    let inFlight = 0;
    let consumed = 0; // batches handed to the consumer
    let stopped = false;
    let fatal: Error | null = null;
    let wake = new Deferred();

    const slotFor = (b: number): BatchSlot => {
      let s = slots.get(b);
      if (!s) {
        const size = Math.min(o.batchSize, total - b * o.batchSize);
        const images = allocate(size * chw, inWorkers);
        s = { images, labels: new Int32Array(size), paths: new Array<string>(size), indices: new Int32Array(size), ok: new Uint8Array(size), pending: size };
        slots.set(b, s);
      }
      return s;
    };

    const load = async (slot: BatchSlot, j: number, index: number) => {
      const sample = samples[index];
      slot.labels[j] = sample.label;
      slot.paths[j] = sample.path;
      slot.indices[j] = index;
      if (bad.has(index)) return;
      try {
        if (pool) {
          const failed = await pool.run({ pipeline: pipelineKey, path: sample.path, seed: o.seed, epoch, index, buffer: slot.images.buffer as SharedArrayBuffer, offset: j * chw });
          if (failed) throw failed;
        } else {
          const bytes = await readImageBytes(sample.path);
          await transform.run(bytes, keyedRandom(o.seed, epoch, index), slot.images, j * chw, sample.path);
        }
        slot.ok[j] = 1;
      } catch (err) {
        if (isSampleError(err)) report(index, err);
        else fatal ??= err instanceof Error ? err : new Error(String(err));
      }
    };

    const pump = () => {
      while (!stopped && fatal === null && inFlight < concurrency && next < total) {
        const b = Math.floor(next / o.batchSize);
        if (b >= consumed + o.prefetch) break; // memory bound: the prefetch window is full
        const slot = slotFor(b);
        const j = next - b * o.batchSize;
        const index = order[next++];
        inFlight++;
        void load(slot, j, index).finally(() => {
          inFlight--;
          slot.pending--;
          wake.resolve();
          pump();
        });
      }
    };

    try {
      for (let b = 0; b < batchCount; b++) {
        pump();
        const slot = slotFor(b);
        while (slot.pending > 0 && fatal === null) {
          await wake.promise;
          wake = new Deferred();
        }
        // `fatal` is set by the decode callbacks while this loop waits.
        const failure = fatal as Error | null;
        if (failure !== null) throw failure;
        slots.delete(b);
        consumed = b + 1;
        pump(); // refill the window before the consumer starts on this batch
        if (pool) {
          const copy = allocate(slot.images.length, false);
          copy.set(slot.images);
          recycle(slot.images);
          slot.images = copy;
        }
        const batch = compact(slot, chw, recycle);
        if (batch.size > 0) yield batch;
        else recycle(slot.images);
      }
    } finally {
      stopped = true;
    }
  }

  return {
    batchCount,
    imageShape: [3, height, width] as const,
    get skipped() {
      return skipped;
    },
    epoch: (e: number) => ({ [Symbol.asyncIterator]: () => iterate(e) }),
    [Symbol.asyncIterator]: () => iterate(o.epoch),
  };
}

/**
 * A whole number from the environment variable `name` (the loader's defaults can be tuned
 * there, e.g. so that decoding and ONNX Runtime's threads do not oversubscribe the cores), or
 * undefined when it is unset or empty.
 */
function envCount(name: string, min: number, max: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError('E_BAD_OPTION', `${name}=${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`, { hint: `unset ${name} for the default, or give e.g. ${name}=${min + 1}` });
  }
  return v;
}

/** Drops the failed slots of a batch (rare: copies only then, and recycles the original buffer). */
function compact(s: BatchSlot, chw: number, recycle: (images: Float32Array) => void): Batch {
  const size = s.ok.reduce((a, v) => a + v, 0);
  const withRelease = (b: Omit<Batch, 'release'>): Batch => {
    let released = false;
    return {
      ...b,
      release: () => {
        if (!released) recycle(b.images);
        released = true;
      },
    };
  };
  if (size === s.ok.length) return withRelease({ images: s.images, labels: s.labels, paths: s.paths, indices: s.indices, size });
  const images = new Float32Array(size * chw);
  const labels = new Int32Array(size);
  const indices = new Int32Array(size);
  const paths: string[] = [];
  let k = 0;
  for (let j = 0; j < s.ok.length; j++) {
    if (!s.ok[j]) continue;
    images.set(s.images.subarray(j * chw, (j + 1) * chw), k * chw);
    labels[k] = s.labels[j];
    indices[k] = s.indices[j];
    paths.push(s.paths[j]);
    k++;
  }
  recycle(s.images);
  return withRelease({ images, labels, paths, indices, size });
}
