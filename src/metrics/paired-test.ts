/**
 * Statistics for comparing training runs: McNemar's exact test on paired predictions (two
 * classifiers, the same images), and the mean of repeated runs with its Student-t interval.
 */
import { ConfigError } from '../errors.js';

export interface McNemarResult {
  /** Images only the first classifier got right. */
  onlyFirst: number;
  /** Images only the second classifier got right. */
  onlySecond: number;
  /** Both right / both wrong (they carry no information about which is better). */
  bothRight: number;
  bothWrong: number;
  /** Two-sided exact p-value: 2 x P(X <= min(b, c)), X ~ Binomial(b + c, 1/2), capped at 1. */
  p: number;
}

/**
 * McNemar's exact (conditional binomial) test. Under "both are equally accurate", each of the
 * b + c discordant images is equally likely to favour either side.
 */
export function mcnemarExact(onlyFirst: number, onlySecond: number): number {
  for (const [name, v] of [
    ['onlyFirst', onlyFirst],
    ['onlySecond', onlySecond],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ConfigError('E_BAD_ARGUMENT', `mcnemarExact: ${name} must be a count (a non-negative integer), found ${v}`);
  }
  const n = onlyFirst + onlySecond;
  if (n === 0) return 1;
  const k = Math.min(onlyFirst, onlySecond);
  // Sum of C(n, i) / 2^n for i = 0..k, in log space (no overflow or underflow for large n).
  let logC = 0;
  let tail = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(n - i + 1) - Math.log(i);
    tail += Math.exp(logC - n * Math.LN2);
  }
  return Math.min(1, 2 * tail);
}

/** McNemar's exact test of two classifiers' per-image correctness on the same images. */
export function mcnemarTest(firstCorrect: readonly boolean[], secondCorrect: readonly boolean[]): McNemarResult {
  if (firstCorrect.length !== secondCorrect.length) {
    throw new ConfigError('E_BAD_ARGUMENT', `mcnemarTest: the two classifiers must be scored on the same images, found ${firstCorrect.length} and ${secondCorrect.length} results`);
  }
  let onlyFirst = 0;
  let onlySecond = 0;
  let bothRight = 0;
  let bothWrong = 0;
  for (let i = 0; i < firstCorrect.length; i++) {
    const a = firstCorrect[i];
    const b = secondCorrect[i];
    if (a && b) bothRight++;
    else if (a) onlyFirst++;
    else if (b) onlySecond++;
    else bothWrong++;
  }
  return { onlyFirst, onlySecond, bothRight, bothWrong, p: mcnemarExact(onlyFirst, onlySecond) };
}

/** Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045,
  2.042,
];

/** The 97.5% quantile of Student's t with `df` degrees of freedom (a table to 30, then the Cornish-Fisher expansion). */
export function tQuantile95(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new ConfigError('E_BAD_ARGUMENT', `tQuantile95: degrees of freedom must be a positive integer, found ${df}`);
  if (df <= T95.length) return T95[df - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

export interface MeanInterval {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for one value. */
  sd: number;
  /** 95% Student-t interval of the mean; [mean, mean] for one value (no spread can be estimated). */
  lower: number;
  upper: number;
  n: number;
}

/** Mean of repeated measurements with its 95% interval. */
export function meanInterval(values: readonly number[]): MeanInterval {
  const n = values.length;
  if (n === 0) throw new ConfigError('E_NO_DATA', 'meanInterval: no values');
  const mean = values.reduce((s, v) => s + v, 0) / n;
  if (n === 1) return { mean, sd: 0, lower: mean, upper: mean, n };
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile95(n - 1) * sd) / Math.sqrt(n);
  return { mean, sd, lower: mean - half, upper: mean + half, n };
}
