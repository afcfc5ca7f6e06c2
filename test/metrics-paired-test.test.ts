/**
 * The statistics behind `compare`: McNemar's exact test against a published worked example
 * and against exact rational arithmetic, Student-t quantiles, the mean's interval, and the
 * stratified training subsets of the learning curve.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mcnemarExact, mcnemarTest, meanInterval, tQuantile95 } from '../src/metrics/paired-test.js';
import { stratifiedSubset } from '../src/train/train-subset.js';

/** 2 x sum_{i<=k} C(n, i) / 2^n with BigInt, capped at 1: the exact value, no floating point in the sum. */
function exactP(b: number, c: number): number {
  const n = BigInt(b + c);
  const k = BigInt(Math.min(b, c));
  let term = 1n;
  let sum = 1n;
  for (let i = 1n; i <= k; i++) {
    term = (term * (n - i + 1n)) / i;
    sum += term;
  }
  const scale = 10n ** 30n;
  const p = Number((2n * sum * scale) / 2n ** n) / 1e30;
  return Math.min(1, p);
}

test("McNemar's exact test: the worked example of Fagerland, Lydersen and Laake (2013)", () => {
  // BMC Med Res Methodol 13:91, Table 1: 1 and 7 discordant pairs; exact conditional p = 0.070 (= 18/256).
  assert.ok(Math.abs(mcnemarExact(1, 7) - 18 / 256) < 1e-12);
  assert.equal(mcnemarExact(1, 7).toFixed(3), '0.070');
  assert.equal(mcnemarExact(7, 1), mcnemarExact(1, 7), 'symmetric');
  assert.equal(mcnemarExact(0, 0), 1, 'no discordant images: no evidence');
  assert.equal(mcnemarExact(5, 5), 1, 'an even split is capped at 1');
  assert.ok(Math.abs(mcnemarExact(0, 10) - 2 / 1024) < 1e-15);
});

test("McNemar's exact test matches exact rational arithmetic, small and large counts", () => {
  for (const [b, c] of [
    [3, 12],
    [20, 35],
    [40, 70],
    [150, 210],
    [600, 700],
  ]) {
    const p = mcnemarExact(b, c);
    const ref = exactP(b, c);
    assert.ok(Math.abs(p - ref) <= 1e-12 + 1e-9 * ref, `${b}, ${c}: ${p} vs ${ref}`);
  }
  assert.throws(
    () => mcnemarExact(-1, 3),
    (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT' && /onlyFirst must be a count/.test(e.message),
  );
  assert.throws(() => mcnemarExact(1.5, 3), /found 1.5/);
});

test('mcnemarTest counts the four cells from per-image correctness', () => {
  const a = [true, true, false, false, true, false, true, true];
  const b = [true, false, true, false, false, false, true, true];
  const r = mcnemarTest(a, b);
  assert.deepEqual([r.bothRight, r.onlyFirst, r.onlySecond, r.bothWrong], [3, 2, 1, 2]);
  assert.equal(r.p, mcnemarExact(2, 1));
  assert.throws(() => mcnemarTest([true], [true, false]), /same images, found 1 and 2/);
});

test("Student's t quantiles and the mean's 95% interval", () => {
  assert.equal(tQuantile95(1), 12.706);
  assert.equal(tQuantile95(2), 4.303);
  assert.equal(tQuantile95(30), 2.042);
  // Beyond the table: the Cornish-Fisher expansion against tabulated values.
  for (const [df, t] of [
    [40, 2.0211],
    [60, 2.0003],
    [120, 1.9799],
    [1000, 1.9623],
  ]) {
    assert.ok(Math.abs(tQuantile95(df) - t) < 2e-4, `df ${df}: ${tQuantile95(df)}`);
  }
  const m = meanInterval([0.9, 0.92, 0.94]);
  assert.ok(Math.abs(m.mean - 0.92) < 1e-12);
  assert.ok(Math.abs(m.sd - 0.02) < 1e-12);
  const half = (4.303 * 0.02) / Math.sqrt(3);
  assert.ok(Math.abs(m.upper - (0.92 + half)) < 1e-12 && Math.abs(m.lower - (0.92 - half)) < 1e-12);
  const one = meanInterval([0.5]);
  assert.deepEqual([one.lower, one.upper, one.n], [0.5, 0.5, 1]);
  assert.throws(
    () => meanInterval([]),
    (e: Error & { code?: string }) => e.code === 'E_NO_DATA',
  );
});

test('stratifiedSubset: per-class fractions, seeded, smaller fractions nested in larger ones', () => {
  const labels = [...Array<number>(40).fill(0), ...Array<number>(20).fill(1), ...Array<number>(3).fill(2)];
  const half = stratifiedSubset(labels, 0.5, 7);
  const quarter = stratifiedSubset(labels, 0.25, 7);
  const count = (idx: number[], c: number) => idx.filter((i) => labels[i] === c).length;
  assert.deepEqual(
    [0, 1, 2].map((c) => count(half, c)),
    [20, 10, 2],
  );
  assert.deepEqual(
    [0, 1, 2].map((c) => count(quarter, c)),
    [10, 5, 1],
  );
  assert.ok(
    quarter.every((i) => half.includes(i)),
    'the quarter is inside the half',
  );
  assert.deepEqual(stratifiedSubset(labels, 0.5, 7), half, 'same seed, same subset');
  assert.notDeepEqual(stratifiedSubset(labels, 0.5, 8), half, 'another seed, another subset');
  assert.equal(stratifiedSubset(labels, 1, 7).length, labels.length);
  assert.deepEqual(
    [...half].sort((a, b) => a - b),
    half,
  );
});
