/**
 * Out-of-fold predicted probabilities from cached features: the rows are split into K folds
 * (stratified by label, seeded), and each fold is predicted by a linear head (linear-head.ts)
 * trained on the other folds, so no row's probability comes from a model that saw its label.
 * Confident learning's label-error ranking (metrics/label-issues.ts) needs exactly this.
 */
import { ConfigError } from '../errors.js';
import { keyedRandom, permutation } from '../random.js';
import { fitLinearHead, linearHeadProbabilities, type LinearHeadOptions } from './linear-head.js';

export interface OutOfFoldOptions extends LinearHeadOptions {
  /** Number of folds (default 5; at least 2). */
  folds?: number;
}

/** The fold of each row: labels dealt round-robin over the folds in a seeded order, so each fold holds every class in proportion. */
export function stratifiedFolds(labels: ArrayLike<number>, folds: number, seed: number): Int32Array {
  const n = labels.length;
  const order = permutation(keyedRandom(seed, 0xf01d), n);
  const fold = new Int32Array(n);
  const next = new Map<number, number>();
  for (const i of order) {
    const y = labels[i];
    const f = next.get(y) ?? 0;
    fold[i] = f % folds;
    next.set(y, f + 1);
  }
  return fold;
}

/** [N, K] probabilities, row i predicted by a head that was not trained on row i. */
export function outOfFoldProbabilities(rows: Float32Array, labels: ArrayLike<number>, dim: number, numClasses: number, options?: OutOfFoldOptions): Float32Array {
  const folds = options?.folds ?? 5;
  const n = labels.length;
  if (!Number.isInteger(folds) || folds < 2) throw new ConfigError('E_BAD_ARGUMENT', `out-of-fold predictions need at least 2 folds, got ${folds}`);
  if (n < folds) throw new ConfigError('E_BAD_ARGUMENT', `out-of-fold predictions with ${folds} folds need at least ${folds} images, got ${n}`, { hint: 'label more images' });
  const fold = stratifiedFolds(labels, folds, options?.seed ?? 0);
  const out = new Float32Array(n * numClasses);
  for (let f = 0; f < folds; f++) {
    const train: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < n; i++) (fold[i] === f ? held : train).push(i);
    if (held.length === 0) continue;
    const pick = (idx: number[]) => {
      const m = new Float32Array(idx.length * dim);
      idx.forEach((i, j) => m.set(rows.subarray(i * dim, (i + 1) * dim), j * dim));
      return m;
    };
    const head = fitLinearHead(
      pick(train),
      train.map((i) => labels[i]),
      dim,
      numClasses,
      { ...options, seed: (options?.seed ?? 0) + f },
    );
    const p = linearHeadProbabilities(head, pick(held));
    held.forEach((i, j) => out.set(p.subarray(j * numClasses, (j + 1) * numClasses), i * numClasses));
  }
  return out;
}
