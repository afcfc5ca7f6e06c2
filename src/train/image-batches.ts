/**
 * Batches of transformed images for the trainer, through the data loader (src/data/loader.ts:
 * parallel decode, prefetch, a seeded order per epoch and a seeded random source per
 * (epoch, sample), so a resumed run sees the same batches as an uninterrupted one). An image
 * that fails to load is left out of its batch and reported through `onSkip`; the epoch goes on.
 */
import { createLoader, type Batch } from '../data/loader.js';
import type { Pipeline } from '../data/pipeline.js';
import { keyedRandom, permutation } from '../random.js';
import type { Sample } from '../data/sample.js';

export type ImageBatch = Batch;

export interface ImageBatchOptions {
  batchSize: number;
  shuffle: boolean;
  seed: number;
  /** Keys the shuffle and the augmentations. */
  epoch: number;
  onSkip?: (path: string, reason: string) => void;
}

/** The order samples are visited in for an epoch (the loader's: torch.randperm on keyedRandom(seed, epoch)). */
export function epochOrder(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
  if (!shuffle) return Int32Array.from({ length: n }, (_, i) => i);
  return permutation(keyedRandom(seed, epoch), n);
}

export function batchCount(n: number, batchSize: number): number {
  return Math.ceil(n / batchSize);
}

/**
 * What produces a fine-tuning run's batches: `imageBatches` (the loader), or a stand-in given
 * through train()'s hooks (bench:e2e's in-memory source, which measures what the data costs an epoch).
 */
export type BatchSource = (samples: readonly Sample[], transform: Pipeline, o: ImageBatchOptions) => AsyncIterable<ImageBatch>;

export function imageBatches(samples: readonly Sample[], transform: Pipeline, o: ImageBatchOptions): AsyncIterable<ImageBatch> {
  const onSkip = o.onSkip;
  return createLoader(samples, transform, {
    batchSize: o.batchSize,
    shuffle: o.shuffle,
    seed: o.seed,
    epoch: o.epoch,
    ...(onSkip ? { onSkip: (s: { path: string; reason: string }) => onSkip(s.path, s.reason) } : {}),
  });
}
