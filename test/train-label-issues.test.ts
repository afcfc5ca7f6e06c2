/**
 * Likely label errors from out-of-fold predictions on cached features: a synthetic feature
 * set (Gaussian clusters, one per class) with deliberately flipped labels; the flipped rows
 * must rank at the top (precision@k), the confident-learning thresholds are checked on
 * hand-made probabilities, and the folds hold every class.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classThresholds, rankLabelIssues } from '../src/metrics/label-issues.js';
import { fitLinearHead, linearHeadAccuracy } from '../src/train/linear-head.js';
import { outOfFoldProbabilities, stratifiedFolds } from '../src/train/out-of-fold.js';
import { Random } from '../src/random.js';

/** K clusters in D dims, `perClass` rows each, centres 3 apart on average (some overlap), then `flips` labels changed. */
function syntheticFeatures(K: number, D: number, perClass: number, flips: number, seed: number) {
  const rng = new Random(seed);
  const centres = Array.from({ length: K }, () => Float32Array.from({ length: D }, () => rng.normal() * 0.55));
  const n = K * perClass;
  const rows = new Float32Array(n * D);
  const truth = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    truth[i] = i % K;
    for (let d = 0; d < D; d++) rows[i * D + d] = centres[truth[i]][d] + rng.normal() * 0.5;
  }
  const labels = Int32Array.from(truth);
  const flipped = new Set<number>();
  while (flipped.size < flips) {
    const i = Math.floor(rng.next() * n);
    if (flipped.has(i)) continue;
    flipped.add(i);
    labels[i] = (truth[i] + 1 + Math.floor(rng.next() * (K - 1))) % K;
  }
  return { rows, labels, truth, flipped };
}

test('out-of-fold ranking puts deliberately flipped labels at the top (precision@k)', () => {
  const K = 4;
  const D = 32;
  const flips = 12;
  const { rows, labels, flipped } = syntheticFeatures(K, D, 60, flips, 7);
  const probs = outOfFoldProbabilities(rows, labels, D, K, { folds: 5, seed: 1 });
  const ranked = rankLabelIssues(probs, labels, K);
  assert.equal(ranked.length, labels.length);
  const topK = ranked.slice(0, flips).filter((r) => flipped.has(r.index)).length;
  assert.ok(topK / flips >= 0.75, `precision@${flips} = ${topK}/${flips}`);
  const flaggedRows = ranked.filter((r) => r.flagged);
  const caught = flaggedRows.filter((r) => flipped.has(r.index)).length;
  assert.ok(caught >= flips * 0.75, `flagged ${flaggedRows.length}, of which ${caught} of the ${flips} flipped`);
  assert.ok(flaggedRows.length <= flips * 3, `not everything is flagged: ${flaggedRows.length}`);
  // A flagged row's suggestion is mostly the true class.
  const { truth } = syntheticFeatures(K, D, 60, flips, 7);
  const right = ranked.slice(0, flips).filter((r) => flipped.has(r.index) && r.suggested === truth[r.index]).length;
  assert.ok(right >= topK * 0.8, `suggested the true class for ${right} of ${topK}`);
  // The same call gives the same numbers (seeded).
  assert.deepEqual(outOfFoldProbabilities(rows, labels, D, K, { folds: 5, seed: 1 }), probs);
});

test('a head trained in-sample would have memorised some flips: out-of-fold probabilities are lower for them', () => {
  const K = 3;
  const D = 64;
  const { rows, labels, flipped } = syntheticFeatures(K, D, 30, 6, 11);
  const oof = outOfFoldProbabilities(rows, labels, D, K, { folds: 5, seed: 2, epochs: 60 });
  const head = fitLinearHead(rows, labels, D, K, { epochs: 60 });
  assert.ok(linearHeadAccuracy(head, rows, labels) > 0.9);
  let oofSelf = 0;
  for (const i of flipped) oofSelf += oof[i * K + labels[i]];
  assert.ok(oofSelf / flipped.size < 0.5, `mean out-of-fold p(given label) of flipped rows ${oofSelf / flipped.size}`);
});

test('confident-learning thresholds and flags on hand-made probabilities', () => {
  // 2 classes; class 0's rows average p0 = 0.8, class 1's average p1 = 0.7.
  const probs = [0.9, 0.1, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6, 0.6, 0.4];
  const labels = [0, 0, 1, 1, 1];
  const t = classThresholds(probs, labels, 2);
  assert.ok(Math.abs(t[0] - 0.8) < 1e-12 && Math.abs(t[1] - (0.8 + 0.6 + 0.4) / 3) < 1e-12);
  const ranked = rankLabelIssues(probs, labels, 2);
  // Row 1 (label 0: p0 = 0.7 < t0 = 0.8, p1 = 0.3 < t1 = 0.6) and row 4 (label 1: p0 = 0.6 < 0.8) reach no other class's threshold.
  assert.deepEqual(
    ranked.filter((r) => r.flagged).map((r) => r.index),
    [],
  );
  // Row 1 now says 0.7 for class 1: t0 drops to 0.6, so row 1 (p1 = 0.7 >= t1) and row 4 (p0 = 0.6 >= t0) are issues, row 1 (margin -0.4) first.
  const probs2 = [...probs.slice(0, 2), 0.3, 0.7, ...probs.slice(4)];
  const ranked2 = rankLabelIssues(probs2, labels, 2);
  assert.deepEqual(
    ranked2.filter((r) => r.flagged).map((r) => r.index),
    [1, 4],
  );
  assert.equal(ranked2[0].suggested, 1);
  assert.ok(Math.abs(ranked2[0].margin - -0.4) < 1e-12);
  assert.ok(Math.abs(ranked2[1].margin - -0.2) < 1e-12);
});

test('stratified folds hold every class in proportion', () => {
  const labels = Int32Array.from({ length: 103 }, (_, i) => (i < 80 ? 0 : i < 100 ? 1 : 2));
  const fold = stratifiedFolds(labels, 5, 3);
  for (let f = 0; f < 5; f++) {
    const count = [0, 0, 0];
    for (let i = 0; i < labels.length; i++) if (fold[i] === f) count[labels[i]]++;
    assert.equal(count[0], 16);
    assert.equal(count[1], 4);
    assert.ok(count[2] <= 1);
  }
  assert.throws(() => outOfFoldProbabilities(new Float32Array(4), [0, 1], 2, 2, { folds: 5 }), /at least 5 images/);
});
