/**
 * Calibration and rejection metrics: the temperature fit against a brute-force search, ECE
 * and AUROC against worked examples, the thresholds' definitions.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrationSummary, fitTemperature, nllAt } from '../src/metrics/calibration.js';
import { fprAt95Tpr, knownAcceptedAtUnknownRejected, rejectedFraction, rejectionAuroc, thresholdAtRejectRate, thresholdBestF1, unknownScores } from '../src/metrics/rejection.js';
import { Random } from '../src/random.js';

/** Overconfident logits: true-class margin plus noise, times 4, with 25% of labels flipped. */
function overconfident(n: number, k: number, seed = 3): { logits: Float32Array; labels: Int32Array } {
  const rng = new Random(seed);
  const logits = new Float32Array(n * k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = Math.floor(rng.next() * k);
    for (let c = 0; c < k; c++) logits[i * k + c] = 4 * ((c === y ? 1.5 : 0) + rng.normal());
    labels[i] = rng.next() < 0.25 ? (y + 1) % k : y;
  }
  return { logits, labels };
}

test('fitTemperature finds the minimum of the NLL (brute-force check) and lowers NLL and ECE on overconfident logits', () => {
  const { logits, labels } = overconfident(400, 4);
  const t = fitTemperature(logits, labels, 4);
  let bestT = 1;
  let bestNll = Infinity;
  for (let u = Math.log(0.05); u <= Math.log(20); u += 0.002) {
    const v = nllAt(logits, labels, 4, Math.exp(u));
    if (v < bestNll) [bestNll, bestT] = [v, Math.exp(u)];
  }
  assert.ok(Math.abs(Math.log(t) - Math.log(bestT)) < 2e-3, `golden section T=${t}, grid T=${bestT}`);
  assert.ok(t > 1, `overconfident logits need T > 1, found ${t}`);
  const before = calibrationSummary(logits, labels, 4, 1);
  const after = calibrationSummary(logits, labels, 4, t);
  assert.ok(after.nll < before.nll);
  assert.ok(after.ece < before.ece, `ECE ${before.ece} -> ${after.ece}`);
});

test('ECE of a worked example: bins weighted by count, |accuracy - confidence|', () => {
  // Two classes; logits [l, 0] give top-1 probability sigmoid(l).
  const p = [0.9, 0.9, 0.6, 0.6];
  const logits = Float32Array.from(p.flatMap((q) => [Math.log(q / (1 - q)), 0]));
  const labels = Int32Array.from([0, 1, 0, 0]); // bin of 0.9: accuracy 0.5; bin of 0.6: accuracy 1
  const s = calibrationSummary(logits, labels, 2, 1, 10);
  const expected = 0.5 * Math.abs(0.5 - 0.9) + 0.5 * Math.abs(1 - 0.6);
  assert.ok(Math.abs(s.ece - expected) < 1e-6, `ECE ${s.ece}, expected ${expected}`);
  assert.equal(s.bins.filter((b) => b.count > 0).length, 2);
});

test('AUROC: a worked example, ties count half', () => {
  assert.ok(Math.abs(rejectionAuroc([0.9, 0.8, 0.7], [0.75, 0.2]) - 5 / 6) < 1e-12);
  assert.equal(rejectionAuroc([1, 1], [1]), 0.5);
  assert.equal(rejectionAuroc([2, 3], [0, 1]), 1);
});

test('thresholds: reject rate on known scores, best F1 against unknown, FPR at 95% TPR', () => {
  const known = Array.from({ length: 20 }, (_, i) => i + 1);
  const t = thresholdAtRejectRate(known, 0.05);
  assert.equal(rejectedFraction(known, t), 0.05);
  assert.equal(rejectedFraction(known, thresholdAtRejectRate(known, 0)), 0);
  const best = thresholdBestF1([5, 6, 7, 8], [1, 2, 3]);
  assert.equal(best.f1, 1);
  assert.ok(best.threshold > 3 && best.threshold <= 5);
  assert.equal(t, 1.5); // midway between the rejected 1 and the accepted 2
  // 95% of 20 known accepted: threshold 1.5; unknown scores 1.4 and 3 -> one of two accepted.
  assert.equal(fprAt95Tpr(known, [1.4, 3]), 0.5);
  // TPR at FPR 20%: 10 unknown scores 0.5..9.5; rejecting 8 of them needs a threshold above 7.5, which accepts known 8..20 (13 of 20).
  const unknown = Array.from({ length: 10 }, (_, i) => i + 0.5);
  assert.equal(knownAcceptedAtUnknownRejected(known, unknown, 0.8), 13 / 20);
  // A known score equal to that unknown score counts as rejected; 90% needs the 9th (8.5): 12 accepted.
  assert.equal(knownAcceptedAtUnknownRejected([7.5, 8, 9], unknown, 0.8), 2 / 3);
  assert.equal(knownAcceptedAtUnknownRejected(known, unknown, 0.9), 12 / 20);
});

test('unknownScores: msp is the top probability of softmax(z / T), energy is T * logsumexp(z / T)', () => {
  const z = [2, 0, -1];
  const T = 2;
  const e = z.map((v) => Math.exp(v / T));
  const sum = e.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(unknownScores(z, 3, 'msp', T)[0] - e[0] / sum) < 1e-12);
  assert.ok(Math.abs(unknownScores(z, 3, 'energy', T)[0] - T * Math.log(sum)) < 1e-12);
});
