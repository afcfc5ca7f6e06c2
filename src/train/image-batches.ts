/**
 * Batches of transformed images for the trainer: a seeded order per epoch, a seeded random
 * source per (epoch, sample), so the same seed gives the same batches and augmentations in
 * an uninterrupted and in a resumed run. An image that fails to load is left out of its
 * batch and reported through `onSkip`; the epoch goes on.
 *
 * TODO(data): switch to the data engineer's createLoader (src/data/loader.ts: parallel
 * decode, prefetch queue) once it lands; this adapter decodes one batch ahead with
 * Promise.all and keeps the trainer independent of the loader's exact shape.
 */
import { readImageBytes } from '../data/decode.js';
import type { Pipeline } from '../data/pipeline.js';
import { permutation, Random } from '../data/random.js';
import type { Sample } from '../data/sample.js';

export interface ImageBatch {
  /** NCHW float32, N = labels.length. */
  images: Float32Array;
  labels: Int32Array;
  paths: string[];
}

export interface ImageBatchOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  /** Keys the shuffle and the augmentations (1-based epoch; views use their own keys). */
  epoch: number;
  onSkip?: (path: string, reason: string) => void;
}

/** The order samples are visited in for an epoch. */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
  if (!shuffle) return Int32Array.from({ length: n }, (_, i) => i);
  return permutation(new Random(seed, epoch, 0x5eed), n);
}

export function batchCount(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

async function loadBatch(samples: readonly Sample[], order: Int32Array, start: number, transform: Pipeline, o: ImageBatchOptions): Promise<ImageBatch> {
  const idx = order.subarray(start, Math.min(start + o.batchSize, order.length));
  const per = transform.tensorLength;
  const buf = new Float32Array(idx.length * per);
  const ok = await Promise.all(
    Array.from(idx, async (s, k) => {
      const sample = samples[s];
      try {
        const bytes = await readImageBytes(sample.path);
        await transform.run(bytes, new Random(o.seed, o.epoch, s), buf, k * per, sample.path);
        return true;
      } catch (err) {
        o.onSkip?.(sample.path, (err as Error).message);
        return false;
      }
    }),
  );
  const keep = ok.reduce((n, v) => n + (v ? 1 : 0), 0);
  if (keep === idx.length) {
    return { images: buf, labels: Int32Array.from(idx, (s) => samples[s].label), paths: Array.from(idx, (s) => samples[s].path) };
  }
  const images = new Float32Array(keep * per);
  const labels = new Int32Array(keep);
  const paths: string[] = [];
  let j = 0;
  idx.forEach((s, k) => {
    if (!ok[k]) return;
    images.set(buf.subarray(k * per, (k + 1) * per), j * per);
    labels[j++] = samples[s].label;
    paths.push(samples[s].path);
  });
  return { images, labels, paths };
}

/** Batches for one epoch; the next batch decodes while the caller works on the current one. */
export async function* imageBatches(samples: readonly Sample[], transform: Pipeline, options: ImageBatchOptions): AsyncGenerator<ImageBatch> {
  const order = epochOrder(samples.length, options.shuffle, options.seed, options.epoch);
  let next: Promise<ImageBatch> | undefined = order.length ? loadBatch(samples, order, 0, transform, options) : undefined;
  for (let start = 0; next; start += options.batchSize) {
    const current = await next;
    const following = start + options.batchSize;
    next = following < order.length ? loadBatch(samples, order, following, transform, options) : undefined;
    if (current.labels.length > 0) yield current;
  }
}
