/**
 * Batches of cached rows (features, or the frozen stages' activations): a training epoch draws
 * one cached view per sample in a seeded order (a batch's rows are reused once it is released); val
 * walks view 0 in order, without copying.
 * Shared by the head runner and the cached partial fine-tuning runner.
 */
import { keyedRandom, randomInt } from '../random.js';
import type { FeatureSplit } from './feature-cache.js';
import { epochOrder } from './image-batches.js';
import type { RunnerBatch } from './mode-runner.js';

/** A batch of cached rows: `labels.length` rows of `dim` values each. */
export interface CachedRowBatch extends RunnerBatch {
  readonly x: Float32Array;
}

const release = () => {};

export async function* trainRowBatches(split: FeatureSplit, dim: number, batch: number, seed: number, epoch: number): AsyncGenerator<CachedRowBatch> {
  const N = split.labels.length;
  const views = split.views;
  const order = epochOrder(N, true, seed, epoch);
  const viewRng = keyedRandom(seed, epoch, 0x71e3);
  const viewOf = Int32Array.from(order, () => (views.length > 1 ? randomInt(viewRng, 0, views.length) : 0));
  // Full batches reuse the rows of batches already released (no fresh allocation per step: a cached
  // activation batch is MBs, ResNet18's layer3 output 1.6 MB at batch 8, 224 px).
  const free: Float32Array[] = [];
  for (let start = 0; start < N; start += batch) {
    const n = Math.min(batch, N - start);
    const x = (n === batch ? free.pop() : undefined) ?? new Float32Array(n * dim);
    const labels = new Int32Array(n);
    const paths: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = order[start + i];
      x.set(views[viewOf[start + i]].subarray(s * dim, (s + 1) * dim), i * dim);
      labels[i] = split.labels[s];
      paths.push(split.paths[s]);
    }
    let done = false;
    const reuse = () => {
      if (done) return; // once: two live batches must never share rows
      done = true;
      free.push(x);
    };
    yield { x, labels, paths, release: n === batch ? reuse : release };
  }
}

export async function* valRowBatches(split: FeatureSplit, dim: number, batch: number): AsyncGenerator<CachedRowBatch> {
  for (let s = 0; s < split.labels.length; s += batch) {
    const e = Math.min(s + batch, split.labels.length);
    yield { x: split.views[0].subarray(s * dim, e * dim), labels: split.labels.subarray(s, e), paths: split.paths.slice(s, e), release };
  }
}
