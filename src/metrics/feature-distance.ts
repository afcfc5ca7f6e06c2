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
 *
 * With images of none of the classes (--unknown-dir), they get a centre of their own, mu_u, and
 * their residuals join the shared covariance; the score becomes the log-likelihood ratio of
 * the nearest known class against that "unknown" Gaussian (equal priors):
 *
 *   score   = d_u(u)^2 - min_c d_c(u)^2               (higher = more like the known classes)
 *           = max_c (u . a_c + b_c),   a_c = 2 W^T (W mu_c - W mu_u),  b_c = |W mu_u|^2 - |W mu_c|^2
 *
 * (the quadratic terms cancel), so the graph needs only a [D, k] MatMul, not the D x D whitening.
 *
 * Measured (bench/trust.ts): on the embedded dataset with 6 held-out Fashion-MNIST classes as
 * the unknown, AUROC 0.73 -> 0.94; with --unknown-dir holding 3 of those classes and the test
 * images the other 3 (kinds never seen), 0.71 -> 0.88. Scores of the --unknown-dir images themselves are biased
 * (each pulled its own centre): the threshold is set on out-of-fold scores
 * (`outOfFoldUnknownScores`).
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
  /**
   * Fitted with --unknown-dir images: the score is then max_c (u . a_c + b_c) (see the top of
   * this file); `weights` row-major [D, k] (column c is a_c), `bias` [k].
   */
  unknownLinear?: { weights: Float64Array; bias: Float64Array };
  /** How many --unknown-dir rows the unknown centre was computed from. */
  unknownImages?: number;
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
  /** Row-major [M, D] features of images of none of the classes: a centre of their own (see the top of this file). */
  unknown?: ArrayLike<number>;
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
  const unknownRows = o.unknown ? o.unknown.length / dim : 0;
  if (o.unknown && (!Number.isInteger(unknownRows) || unknownRows === 0)) {
    throw new ConfigError('E_BAD_ARGUMENT', `fitFeatureDistance: ${o.unknown.length} unknown feature values are not a whole number (> 0) of rows of ${dim}`);
  }
  // Class c's rows in 0..k-1; the unknown rows (when given) are class k.
  const centres = k + (unknownRows ? 1 : 0);
  const labelOf = (i: number) => (i < n ? labels[i] : k);
  const source = (i: number): [ArrayLike<number>, number] => (i < n ? [features, i] : [o.unknown!, i - n]);
  const total = n + unknownRows;
  const row = new Float64Array(dim);
  const mu = new Float64Array(centres * dim);
  const sizes = [...counts, ...(unknownRows ? [unknownRows] : [])];
  for (let i = 0; i < total; i++) {
    normalizedRow(...source(i), dim, row);
    const o = labelOf(i) * dim;
    for (let j = 0; j < dim; j++) mu[o + j] += row[j];
  }
  for (let c = 0; c < centres; c++) for (let j = 0; j < dim; j++) mu[c * dim + j] /= sizes[c];

  // Within-class residuals of (a seeded subset of) the rows.
  const maxRows = o.maxCovarianceRows ?? 2000;
  const rows = total <= maxRows ? Array.from({ length: total }, (_, i) => i) : Array.from(permutation(new Random(o.seed ?? 0), total).subarray(0, maxRows)).sort((a, b) => a - b);
  const m = rows.length;
  const X = new Float64Array(m * dim);
  rows.forEach((r, i) => {
    normalizedRow(...source(r), dim, row);
    const o = labelOf(r) * dim;
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
  const whitened = new Float64Array(centres * dim);
  for (let c = 0; c < centres; c++) {
    for (let a = 0; a < dim; a++) {
      let v = 0;
      const o = a * dim;
      for (let b = 0; b <= a; b++) v += W[o + b] * mu[c * dim + b];
      whitened[c * dim + a] = v;
    }
  }
  const centers = whitened.slice(0, k * dim);
  const unknown = unknownRows ? { unknownLinear: likelihoodRatioLinear(whitenT, centers, whitened.subarray(k * dim), k, dim), unknownImages: unknownRows } : {};
  return { dim, classes: k, whitenT, centers, ...unknown, shrinkage, trainImages: n, covarianceImages: m };
}

/** a_c = 2 W^T (c_c - c_u) as the columns of [D, k], b_c = |c_u|^2 - |c_c|^2 (whitened centres c). */
function likelihoodRatioLinear(whitenT: Float64Array, centers: Float64Array, unknownCenter: Float64Array, k: number, dim: number): { weights: Float64Array; bias: Float64Array } {
  const weights = new Float64Array(dim * k);
  const bias = new Float64Array(k);
  const uu = unknownCenter.reduce((a, v) => a + v * v, 0);
  const diff = new Float64Array(dim);
  for (let c = 0; c < k; c++) {
    let cc = 0;
    for (let b = 0; b < dim; b++) {
      diff[b] = centers[c * dim + b] - unknownCenter[b];
      cc += centers[c * dim + b] ** 2;
    }
    bias[c] = uu - cc;
    // whitenT is W^T (row a = column a of W): (W^T v)_a = sum_b W[b, a] v_b = sum_b whitenT[a, b] v_b.
    for (let a = 0; a < dim; a++) {
      let v = 0;
      for (let b = 0; b < dim; b++) v += whitenT[a * dim + b] * diff[b];
      weights[a * k + c] = 2 * v;
    }
  }
  return { weights, bias };
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

/**
 * The score of each row of [N, D] features (float64): minus the distance to the nearest class,
 * or with an unknown centre d_u^2 - min_c d_c^2.
 */
export function featureDistanceScores(model: FeatureDistanceModel, features: ArrayLike<number>): Float64Array {
  const { dim, classes: k, whitenT, centers, unknownLinear } = model;
  const n = features.length / dim;
  const out = new Float64Array(n);
  const u = new Float64Array(dim);
  const z = new Float64Array(dim);
  for (let r = 0; r < n; r++) {
    normalizedRow(features, r, dim, u);
    if (unknownLinear) {
      let best = -Infinity;
      for (let c = 0; c < k; c++) {
        let v = unknownLinear.bias[c];
        for (let a = 0; a < dim; a++) v += u[a] * unknownLinear.weights[a * k + c];
        best = Math.max(best, v);
      }
      out[r] = best;
      continue;
    }
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

/**
 * Scores of the --unknown-dir rows [M, D] from fits that did not see them: the rows are split
 * into `folds` seeded folds, and each fold is scored by the distance fitted on the training
 * features and the other folds' unknown rows. The threshold is chosen on these (a row's score
 * from the fit that includes it is pulled towards "unknown"). With fewer than 2 rows there is no
 * fold to leave out: the in-sample scores are returned.
 */
export function outOfFoldUnknownScores(
  features: ArrayLike<number>,
  labels: ArrayLike<number>,
  k: number,
  dim: number,
  unknown: ArrayLike<number>,
  o: Omit<FitFeatureDistanceOptions, 'unknown'> & { folds?: number } = {},
): Float64Array {
  const m = unknown.length / dim;
  const folds = Math.min(o.folds ?? 5, m);
  if (folds < 2) return featureDistanceScores(fitFeatureDistance(features, labels, k, dim, { ...o, unknown }), unknown);
  const order = permutation(new Random(o.seed ?? 0), m);
  const out = new Float64Array(m);
  for (let f = 0; f < folds; f++) {
    const held = Array.from(order).filter((_, i) => i % folds === f);
    const heldSet = new Set(held);
    const kept = Array.from({ length: m }, (_, i) => i).filter((i) => !heldSet.has(i));
    const pick = (idx: number[]) => {
      const x = new Float64Array(idx.length * dim);
      idx.forEach((r, i) => {
        for (let j = 0; j < dim; j++) x[i * dim + j] = unknown[r * dim + j];
      });
      return x;
    };
    const scores = featureDistanceScores(fitFeatureDistance(features, labels, k, dim, { ...o, unknown: pick(kept) }), pick(held));
    held.forEach((r, i) => (out[r] = scores[i]));
  }
  return out;
}
