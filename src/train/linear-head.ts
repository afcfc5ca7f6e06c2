/**
 * A linear classifier on cached features, trained in plain JS in a second or two: features
 * centred on the training rows' mean and scaled by their pooled std, softmax regression with L2, mini-batch
 * SGD with momentum and a cosine schedule, seeded. Used where a head is needed quickly and
 * often — the out-of-fold predictions of out-of-fold.ts and the review page's "retrain
 * head" — not as the run's own head (that one is an ONNX graph with the run's recipe).
 */
import { keyedRandom, permutation } from '../random.js';

export interface LinearHeadOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
}

export interface LinearHead {
  dim: number;
  numClasses: number;
  /** [K, D] on standardised features. */
  weight: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  /** 1 / the features' pooled std, the same for every feature. */
  invStd: Float32Array;
}

const DEFAULTS = { epochs: 30, batchSize: 32, lr: 0.5, weightDecay: 1e-3, seed: 0 };

function softmaxInPlace(z: Float64Array): void {
  let m = -Infinity;
  for (const v of z) m = Math.max(m, v);
  let s = 0;
  for (let k = 0; k < z.length; k++) {
    z[k] = Math.exp(z[k] - m);
    s += z[k];
  }
  for (let k = 0; k < z.length; k++) z[k] /= s;
}

/** Trains on `rows` ([N, dim] row-major) with `labels` in [0, numClasses). */
export function fitLinearHead(rows: Float32Array, labels: ArrayLike<number>, dim: number, numClasses: number, options?: LinearHeadOptions): LinearHead {
  const o = { ...DEFAULTS, ...options };
  const n = labels.length;
  const mean = new Float32Array(dim);
  const invStd = new Float32Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += rows[i * dim + d] / n;
  for (let i = 0; i < n; i++)
    for (let d = 0; d < dim; d++) {
      const c = rows[i * dim + d] - mean[d];
      invStd[d] += (c * c) / n;
    }
  // One scale for all features, so that a row's norm is about 1: per-feature scaling would blow up rarely
  // active features (most of a pooled ReLU backbone's) into the largest inputs, and the head would overfit
  // them with saturated (0 or 1) probabilities that rank nothing.
  let meanVar = 0;
  for (let d = 0; d < dim; d++) meanVar += invStd[d] / dim;
  invStd.fill(meanVar > 1e-12 ? 1 / Math.sqrt(meanVar * dim) : 1);
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) x[i * dim + d] = (rows[i * dim + d] - mean[d]) * invStd[d];

  const K = numClasses;
  const weight = new Float32Array(K * dim);
  const bias = new Float32Array(K);
  const vW = new Float32Array(K * dim);
  const vB = new Float32Array(K);
  const gW = new Float64Array(K * dim);
  const gB = new Float64Array(K);
  const z = new Float64Array(K);
  const steps = o.epochs * Math.ceil(n / o.batchSize);
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = permutation(keyedRandom(o.seed, epoch, 0x11ead), n);
    for (let start = 0; start < n; start += o.batchSize) {
      const end = Math.min(n, start + o.batchSize);
      gW.fill(0);
      gB.fill(0);
      for (let j = start; j < end; j++) {
        const i = order[j];
        const xi = i * dim;
        for (let k = 0; k < K; k++) {
          let s = bias[k];
          const wk = k * dim;
          for (let d = 0; d < dim; d++) s += weight[wk + d] * x[xi + d];
          z[k] = s;
        }
        softmaxInPlace(z);
        z[labels[i]] -= 1;
        for (let k = 0; k < K; k++) {
          const g = z[k];
          if (g === 0) continue;
          gB[k] += g;
          const wk = k * dim;
          for (let d = 0; d < dim; d++) gW[wk + d] += g * x[xi + d];
        }
      }
      const m = end - start;
      const lr = (o.lr * (1 + Math.cos((Math.PI * step) / steps))) / 2;
      step++;
      for (let p = 0; p < weight.length; p++) {
        vW[p] = 0.9 * vW[p] + gW[p] / m + o.weightDecay * weight[p];
        weight[p] -= lr * vW[p];
      }
      for (let k = 0; k < K; k++) {
        vB[k] = 0.9 * vB[k] + gB[k] / m;
        bias[k] -= lr * vB[k];
      }
    }
  }
  return { dim, numClasses: K, weight, bias, mean, invStd };
}

/** Softmax probabilities [N, K] of `rows` ([N, dim]). */
export function linearHeadProbabilities(head: LinearHead, rows: Float32Array): Float32Array {
  const { dim, numClasses: K } = head;
  const n = rows.length / dim;
  const out = new Float32Array(n * K);
  const xs = new Float32Array(dim);
  const z = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < dim; d++) xs[d] = (rows[i * dim + d] - head.mean[d]) * head.invStd[d];
    for (let k = 0; k < K; k++) {
      let s = head.bias[k];
      const wk = k * dim;
      for (let d = 0; d < dim; d++) s += head.weight[wk + d] * xs[d];
      z[k] = s;
    }
    softmaxInPlace(z);
    for (let k = 0; k < K; k++) out[i * K + k] = z[k];
  }
  return out;
}

/** Share of rows whose most probable class is their label. */
export function linearHeadAccuracy(head: LinearHead, rows: Float32Array, labels: ArrayLike<number>): number {
  const p = linearHeadProbabilities(head, rows);
  const K = head.numClasses;
  let right = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (p[i * K + k] > p[i * K + best]) best = k;
    if (best === labels[i]) right++;
  }
  return labels.length ? right / labels.length : NaN;
}
