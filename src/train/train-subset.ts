/**
 * `trainFraction`: a stratified, seeded part of the training split (the learning curve of
 * `compare --fractions`). Each class keeps ceil(fraction x its count) images (at least one),
 * taken as a prefix of a per-class permutation drawn from the seed, so for one seed the
 * smaller fractions are subsets of the larger ones. Validation is never subsampled.
 */
import { keyedRandom, permutation } from '../random.js';
import type { FeatureSplit } from './feature-cache.js';

/** Key of the permutation stream (kept apart from shuffling and augmentation). */
const SUBSET_STREAM = 0x5b5e7;

/** Sorted indices of the kept training images. */
export function stratifiedSubset(labels: ArrayLike<number>, fraction: number, seed: number): number[] {
  if (fraction >= 1) return Array.from({ length: labels.length }, (_, i) => i);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byClass.get(labels[i]) ?? [];
    list.push(i);
    byClass.set(labels[i], list);
  }
  const kept: number[] = [];
  for (const [label, list] of byClass) {
    const order = permutation(keyedRandom(seed, SUBSET_STREAM, label), list.length);
    const n = Math.max(1, Math.ceil(fraction * list.length));
    for (let k = 0; k < n; k++) kept.push(list[order[k]]);
  }
  return kept.sort((a, b) => a - b);
}

/** The rows `indices` of every view of a feature split. */
export function subsetFeatureSplit(split: FeatureSplit, indices: readonly number[], dim: number): FeatureSplit {
  return {
    views: split.views.map((v) => {
      const out = new Float32Array(indices.length * dim);
      indices.forEach((r, k) => out.set(v.subarray(r * dim, (r + 1) * dim), k * dim));
      return out;
    }),
    labels: Int32Array.from(indices, (r) => split.labels[r]),
    paths: indices.map((r) => split.paths[r]),
  };
}
