/**
 * "Unknown" rejection: a score per image (higher = more like the known classes), a threshold
 * below which the model answers "unknown", and the measures of how well the score separates
 * known images from images of none of the classes (AUROC, FPR at 95% TPR).
 *
 * Scores (both on logits divided by the calibration temperature T):
 * - `msp`: the maximum softmax probability;
 * - `energy`: T * logsumexp(logits / T), the negative free energy (Liu et al., 2020);
 * - `mahalanobis`: minus the distance of the pooled features to the nearest class (with
 *   --unknown-dir images: the squared distance to their centre minus that to the nearest class)
 *   (src/metrics/feature-distance.ts).
 */
import { ConfigError } from '../errors.js';
import { logSumExpRow } from './classification.js';

export const UNKNOWN_SCORES = ['msp', 'energy', 'mahalanobis'] as const;
export type UnknownScore = (typeof UNKNOWN_SCORES)[number];
/** The scores computed from the logits alone. */
export type LogitScore = Exclude<UnknownScore, 'mahalanobis'>;

/** The score of each row of [N, k] logits (float64). */
export function unknownScores(logits: ArrayLike<number>, k: number, kind: LogitScore, temperature = 1): Float64Array {
  const n = logits.length / k;
  const out = new Float64Array(n);
  const row = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      row[c] = logits[r * k + c] / temperature;
      max = Math.max(max, row[c]);
    }
    const lse = logSumExpRow(row, 0, k);
    out[r] = kind === 'msp' ? Math.exp(max - lse) : temperature * lse;
  }
  return out;
}

/**
 * The threshold that rejects (score < threshold) floor(rate * N) of the `known` scores (fewer
 * on ties): midway between the m-th and (m+1)-th smallest, so no image sits on the threshold
 * (where float32 in the graph and float64 here could disagree).
 */
export function thresholdAtRejectRate(known: ArrayLike<number>, rate: number): number {
  if (known.length === 0) throw new ConfigError('E_BAD_ARGUMENT', 'thresholdAtRejectRate: no known-class scores', { hint: 'the validation split must hold images' });
  if (!(rate >= 0 && rate < 1)) throw new ConfigError('E_BAD_ARGUMENT', `thresholdAtRejectRate: rate ${rate} is outside [0, 1)`);
  const sorted = Float64Array.from(known).sort();
  const m = Math.floor(rate * sorted.length);
  if (m === 0) return sorted[0] - 1e-6 * Math.max(1, Math.abs(sorted[0]));
  return sorted[m - 1] === sorted[m] ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

/** Fractions of each set below (rejected) a threshold. */
export function rejectedFraction(scores: ArrayLike<number>, threshold: number): number {
  let m = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] < threshold) m++;
  return scores.length ? m / scores.length : NaN;
}

/**
 * The threshold with the best F1 between accepted-known and rejected-unknown: the harmonic
 * mean of the share of known images accepted and the share of unknown images rejected
 * (balanced whatever the sizes of the two sets). Candidates: midpoints between sorted scores.
 */
export function thresholdBestF1(known: ArrayLike<number>, unknown: ArrayLike<number>): { threshold: number; f1: number; knownAccepted: number; unknownRejected: number } {
  if (known.length === 0 || unknown.length === 0) throw new ConfigError('E_BAD_ARGUMENT', `thresholdBestF1: ${known.length} known and ${unknown.length} unknown scores; both are needed`);
  const all = [...Array.from(known, (s) => ({ s, known: true })), ...Array.from(unknown, (s) => ({ s, known: false }))].sort((a, b) => a.s - b.s);
  let best = { threshold: all[0].s, f1: -1, knownAccepted: 1, unknownRejected: 0 };
  let knownBelow = 0;
  let unknownBelow = 0;
  for (let i = 0; i <= all.length; i++) {
    if (i > 0) {
      if (all[i - 1].known) knownBelow++;
      else unknownBelow++;
    }
    if (i > 0 && i < all.length && all[i].s === all[i - 1].s) continue; // a threshold cannot split ties
    const threshold = i === 0 ? all[0].s : i === all.length ? all[i - 1].s + 1e-6 * Math.max(1, Math.abs(all[i - 1].s)) : (all[i - 1].s + all[i].s) / 2;
    const ka = 1 - knownBelow / known.length;
    const ur = unknownBelow / unknown.length;
    const f1 = ka + ur > 0 ? (2 * ka * ur) / (ka + ur) : 0;
    if (f1 > best.f1) best = { threshold, f1, knownAccepted: ka, unknownRejected: ur };
  }
  return best;
}

/** Area under the ROC curve of known (positive) against unknown by score: P(known > unknown), ties count half. */
export function rejectionAuroc(known: ArrayLike<number>, unknown: ArrayLike<number>): number {
  const all = [...Array.from(known, (s) => ({ s, known: 1 })), ...Array.from(unknown, (s) => ({ s, known: 0 }))].sort((a, b) => a.s - b.s);
  // Mann-Whitney U with mid-ranks.
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j].s === all[i].s) j++;
    const mid = (i + 1 + j) / 2;
    for (let t = i; t < j; t++) if (all[t].known) rankSum += mid;
    i = j;
  }
  const n1 = known.length;
  const n0 = unknown.length;
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n1 * n0);
}

/** Share of unknown images accepted at the threshold that accepts 95% of the known ones. */
export function fprAt95Tpr(known: ArrayLike<number>, unknown: ArrayLike<number>): number {
  const t = thresholdAtRejectRate(known, 0.05);
  return 1 - rejectedFraction(unknown, t);
}

/**
 * Share of known images accepted by the threshold that rejects at least `rate` of the unknown
 * ones (the ROC's TPR at FPR 1 - rate): the known scores above the ceil(rate * M)-th smallest
 * unknown score (a known score equal to it counts as rejected).
 */
export function knownAcceptedAtUnknownRejected(known: ArrayLike<number>, unknown: ArrayLike<number>, rate = 0.8): number {
  if (known.length === 0 || unknown.length === 0)
    throw new ConfigError('E_BAD_ARGUMENT', `knownAcceptedAtUnknownRejected: ${known.length} known and ${unknown.length} unknown scores; both are needed`);
  const sorted = Float64Array.from(unknown).sort();
  const m = Math.max(1, Math.ceil(rate * sorted.length - 1e-9));
  const bar = sorted[m - 1];
  let above = 0;
  for (let i = 0; i < known.length; i++) if (known[i] > bar) above++;
  return above / known.length;
}
