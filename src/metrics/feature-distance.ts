/**
 * The feature-distance "unknown" score: how far an image's pooled backbone features lie from
 * the nearest class, in the metric of the training features' spread (Lee et al., 2018, "A
 * Simple Unified Framework for Detecting Out-of-Distribution Samples"):
 *
 *   u       = f / |f|                                  (features L2-normalised)
 *   d_c(u)  = sqrt((u - mu_c)^T Sigma^-1 (u - mu_c))   (Mahalanobis distance to class c)
 *   score   = -min_c d_c(u)                            (higher = more like the known classes)
 *
 * mu_c: the class means of the normalised training features; Sigma: their shared (tied)
 * within-class covariance, shrunk towards a scaled identity with the Ledoit-Wolf weight
 * (sklearn.covariance.ledoit_wolf), so it is invertible with fewer images than dimensions.
 * (|f| is computed as sqrt(|f|^2 + 1e-12).) With Sigma = L L^T (Cholesky) and W = L^-1: d_c(u) = |W u - W mu_c|, so the graph needs one
 * MatMul by W^T and the whitened centres W mu_c (src/graphs/calibrated-outputs.ts). All
 * fitting is float64.
 */
import { ConfigError } from '../errors.js';
import { permutation, Random } from '../random.js';

export interface FeatureDistanceModel {
  /** Feature dimension D. */
  dim: number;
  /** Number of classes k. */
  classes: number;
  /** Row-major [D, D]: W^T, so whitened row = normalised row x whitenT. */
  whitenT: Float64Array;
  /** Row-major [k, D]: the whitened class means W mu_c. */
  centers: Float64Array;
  /** The Ledoit-Wolf weight of the scaled identity in the covariance (0..1). */
  shrinkage: number;
  /** Training feature rows the means were computed from, and those the covariance was. */
  trainImages: number;
  covarianceImages: number;
}

export interface FitFeatureDistanceOptions {
  /** At most this many rows (a seeded random subset) estimate the covariance (its cost is rows x D^2). */
  maxCovarianceRows?: number;
  seed?: number;
}

/** Added to |f|^2 before the square root (the graph does the same): a zero row stays zero. */
export const NORM_EPSILON = 1e-12;

/** Row r of [N, D] features, L2-normalised into `out`. */
function normalizedRow(features: ArrayLike<number>, r: number, dim: number, out: Float64Array): Float64Array {
  let s = 0;
  for (let j = 0; j < dim; j++) s += features[r * dim + j] ** 2;
  const inv = 1 / Math.sqrt(s + NORM_EPSILON);
  for (let j = 0; j < dim; j++) out[j] = features[r * dim + j] * inv;
  return out;
}

/**
 * Fits the tied-covariance Gaussian on training features [N, D] (row-major) with labels in
 * [0, k). Every class needs at least one row.
 */
export function fitFeatureDistance(features: ArrayLike<number>, labels: ArrayLike<number>, k: number, dim: number, o: FitFeatureDistanceOptions = {}): FeatureDistanceModel {
  const n = labels.length;
  if (features.length !== n * dim) throw new ConfigError('E_BAD_ARGUMENT', `fitFeatureDistance: ${features.length} feature values for ${n} rows of ${dim}`);
  const counts = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) counts[labels[i]]++;
  const empty = counts.findIndex((c) => c === 0);
  if (empty >= 0) {
    throw new ConfigError('E_BAD_ARGUMENT', `fitFeatureDistance: class ${empty} has no training features; the class means need at least one image per class`, {
      hint: 'every class needs training images (or use --unknown-score msp)',
    });
  }
  const row = new Float64Array(dim);
  const mu = new Float64Array(k * dim);
  for (let i = 0; i < n; i++) {
    normalizedRow(features, i, dim, row);
    const o = labels[i] * dim;
    for (let j = 0; j < dim; j++) mu[o + j] += row[j];
  }
  for (let c = 0; c < k; c++) for (let j = 0; j < dim; j++) mu[c * dim + j] /= counts[c];

  // Within-class residuals of (a seeded subset of) the rows.
  const maxRows = o.maxCovarianceRows ?? 2000;
  const rows = n <= maxRows ? Array.from({ length: n }, (_, i) => i) : Array.from(permutation(new Random(o.seed ?? 0), n).subarray(0, maxRows)).sort((a, b) => a - b);
  const m = rows.length;
  const X = new Float64Array(m * dim);
  rows.forEach((r, i) => {
    normalizedRow(features, r, dim, row);
    const o = labels[r] * dim;
    for (let j = 0; j < dim; j++) X[i * dim + j] = row[j] - mu[o + j];
  });
  // S = X^T X / m (lower triangle, then mirrored).
  const S = new Float64Array(dim * dim);
  for (let i = 0; i < m; i++) {
    const x = X.subarray(i * dim, (i + 1) * dim);
    for (let a = 0; a < dim; a++) {
      const v = x[a];
      if (v === 0) continue;
      const o = a * dim;
      for (let b = 0; b <= a; b++) S[o + b] += v * x[b];
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = 0; b <= a; b++) {
      S[a * dim + b] /= m;
      S[b * dim + a] = S[a * dim + b];
    }
  }
  const shrinkage = ledoitWolfShrinkage(X, S, m, dim);
  let trace = 0;
  for (let a = 0; a < dim; a++) trace += S[a * dim + a];
  const scale = trace / dim > 0 ? trace / dim : 1;
  for (let i = 0; i < S.length; i++) S[i] *= 1 - shrinkage;
  for (let a = 0; a < dim; a++) S[a * dim + a] += shrinkage * scale;
  // A tiny ridge keeps the Cholesky factor defined when the features are degenerate (shrinkage 0 and rank-deficient).
  for (let a = 0; a < dim; a++) S[a * dim + a] += 1e-9 * scale;

  const L = cholesky(S, dim);
  const W = lowerInverse(L, dim);
  const whitenT = new Float64Array(dim * dim);
  for (let a = 0; a < dim; a++) for (let b = 0; b <= a; b++) whitenT[b * dim + a] = W[a * dim + b];
  const centers = new Float64Array(k * dim);
  for (let c = 0; c < k; c++) {
    for (let a = 0; a < dim; a++) {
      let v = 0;
      const o = a * dim;
      for (let b = 0; b <= a; b++) v += W[o + b] * mu[c * dim + b];
      centers[c * dim + a] = v;
    }
  }
  return { dim, classes: k, whitenT, centers, shrinkage, trainImages: n, covarianceImages: m };
}

/**
 * The Ledoit-Wolf shrinkage weight for the covariance S of the m centred rows X (as
 * sklearn.covariance.ledoit_wolf_shrinkage, without its re-centring: X is centred per class).
 */
function ledoitWolfShrinkage(X: Float64Array, S: Float64Array, m: number, dim: number): number {
  let trace = 0;
  for (let a = 0; a < dim; a++) trace += S[a * dim + a];
  const mean = trace / dim;
  let s2 = 0;
  for (let i = 0; i < S.length; i++) s2 += S[i] * S[i];
  // delta = |S - mean I|_F^2 / D
  const delta = (s2 - 2 * mean * trace + dim * mean * mean) / dim;
  if (!(delta > 0)) return 1;
  // beta = (1 / m^2) sum_i |x_i x_i^T - S|_F^2 / D = (sum_i |x_i|^4 / m - |S|_F^2) / (m D)
  let fourth = 0;
  for (let i = 0; i < m; i++) {
    let norm2 = 0;
    for (let a = 0; a < dim; a++) norm2 += X[i * dim + a] ** 2;
    fourth += norm2 * norm2;
  }
  const beta = Math.min(delta, (fourth / m - s2) / (m * dim));
  return beta / delta;
}

/** Lower Cholesky factor of a symmetric positive definite [D, D] matrix. */
function cholesky(S: Float64Array, dim: number): Float64Array {
  const L = new Float64Array(dim * dim);
  for (let j = 0; j < dim; j++) {
    const oj = j * dim;
    let s = S[oj + j];
    for (let t = 0; t < j; t++) s -= L[oj + t] * L[oj + t];
    if (!(s > 0)) throw new ConfigError('E_BAD_ARGUMENT', `fitFeatureDistance: the feature covariance is not positive definite (pivot ${j} is ${s})`, { hint: 'the training features are degenerate' });
    const d = Math.sqrt(s);
    L[oj + j] = d;
    for (let i = j + 1; i < dim; i++) {
      const oi = i * dim;
      let v = S[oi + j];
      for (let t = 0; t < j; t++) v -= L[oi + t] * L[oj + t];
      L[oi + j] = v / d;
    }
  }
  return L;
}

/** Inverse of a lower-triangular [D, D] matrix (lower-triangular too). */
function lowerInverse(L: Float64Array, dim: number): Float64Array {
  const W = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    const oi = i * dim;
    W[oi + i] = 1 / L[oi + i];
    for (let j = 0; j < i; j++) {
      let v = 0;
      for (let t = j; t < i; t++) v -= L[oi + t] * W[t * dim + j];
      W[oi + j] = v / L[oi + i];
    }
  }
  return W;
}

/** The score of each row of [N, D] features (float64): minus the distance to the nearest class. */
export function featureDistanceScores(model: FeatureDistanceModel, features: ArrayLike<number>): Float64Array {
  const { dim, classes: k, whitenT, centers } = model;
  const n = features.length / dim;
  const out = new Float64Array(n);
  const u = new Float64Array(dim);
  const z = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    normalizedRow(features, r, dim, u);
    z.fill(0);
    for (let a = 0; a < dim; a++) {
      const v = u[a];
      if (v === 0) continue;
      const o = a * dim;
      for (let b = 0; b < dim; b++) z[b] += v * whitenT[o + b];
    }
    let best = Infinity;
    for (let c = 0; c < k; c++) {
      let d = 0;
      for (let b = 0; b < dim; b++) d += (z[b] - centers[c * dim + b]) ** 2;
      best = Math.min(best, d);
    }
    out[r] = -Math.sqrt(best);
  }
  return out;
}
