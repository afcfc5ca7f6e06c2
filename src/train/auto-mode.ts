/**
 * `--mode auto`: feature extraction or fine-tuning, decided from the dataset's size and a
 * quick linear probe (a logistic regression on the frozen backbone's features). The rule,
 * after the usual transfer-learning advice (small data: train the head; features that
 * already separate the classes: no need to move them; lots of data and weak features:
 * fine-tune):
 *   - probe val accuracy >= 90%                 -> features
 *   - fewer than 100 training images per class -> features (fine-tuning would overfit)
 *   - otherwise                                 -> finetune
 * Pure functions; the caller extracts the features (through the feature cache).
 */
import type { ConcreteMode } from './options.js';
import { Random } from '../random.js';

const AUTO_PROBE_ACCURACY = 0.9;
const AUTO_MIN_IMAGES_PER_CLASS = 100;

export interface AutoDecision {
  mode: ConcreteMode;
  reason: string;
  probeAcc: number;
}

export function decideMode(facts: { trainImages: number; numClasses: number; probeAcc: number }): AutoDecision {
  const perClass = facts.trainImages / facts.numClasses;
  const probe = `a linear probe on the frozen features reaches ${(facts.probeAcc * 100).toFixed(1)}% val accuracy`;
  const size = `${facts.trainImages} training images (${perClass.toFixed(0)} per class)`;
  if (facts.probeAcc >= AUTO_PROBE_ACCURACY) {
    return {
      mode: 'features',
      probeAcc: facts.probeAcc,
      reason: `${probe} (>= ${AUTO_PROBE_ACCURACY * 100}%): the pretrained features already separate the classes, so only the new classifier is trained; ${size}`,
    };
  }
  if (perClass < AUTO_MIN_IMAGES_PER_CLASS) {
    return { mode: 'features', probeAcc: facts.probeAcc, reason: `only ${size}, fewer than ${AUTO_MIN_IMAGES_PER_CLASS} per class: fine-tuning the whole network would overfit; ${probe}` };
  }
  return {
    mode: 'finetune',
    probeAcc: facts.probeAcc,
    reason: `${size} and ${probe} (< ${AUTO_PROBE_ACCURACY * 100}%): the frozen features do not separate the classes well enough, so the whole network is fine-tuned`,
  };
}

/**
 * Val accuracy of a multinomial logistic regression trained on standardised features by
 * full-batch gradient descent with momentum (L2 1e-4). Deterministic for a seed.
 */
export function linearProbe(
  train: { x: Float32Array; y: Int32Array },
  val: { x: Float32Array; y: Int32Array },
  dim: number,
  numClasses: number,
  options: { iterations?: number; lr?: number; seed?: number } = {},
): number {
  const iterations = options.iterations ?? 150;
  const lr = options.lr ?? 0.5;
  const n = train.y.length;
  if (n === 0 || val.y.length === 0) return 0;
  const mean = new Float64Array(dim);
  const std = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] += train.x[i * dim + d] / n;
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) std[d] += (train.x[i * dim + d] - mean[d]) ** 2 / n;
  for (let d = 0; d < dim; d++) std[d] = Math.sqrt(std[d]) || 1;
  const norm = (x: Float32Array, rows: number) => {
    const out = new Float64Array(rows * dim);
    for (let i = 0; i < rows; i++) for (let d = 0; d < dim; d++) out[i * dim + d] = (x[i * dim + d] - mean[d]) / std[d];
    return out;
  };
  const X = norm(train.x, n);
  const V = norm(val.x, val.y.length);
  const rng = new Random(options.seed ?? 0);
  const W = Float64Array.from({ length: numClasses * dim }, () => rng.normal() * 0.01);
  const b = new Float64Array(numClasses);
  const vW = new Float64Array(W.length);
  const vb = new Float64Array(numClasses);
  const p = new Float64Array(numClasses);
  for (let it = 0; it < iterations; it++) {
    const gW = new Float64Array(W.length);
    const gb = new Float64Array(numClasses);
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let k = 0; k < numClasses; k++) {
        let s = b[k];
        for (let d = 0; d < dim; d++) s += W[k * dim + d] * X[i * dim + d];
        p[k] = s;
        max = Math.max(max, s);
      }
      let sum = 0;
      for (let k = 0; k < numClasses; k++) sum += p[k] = Math.exp(p[k] - max);
      for (let k = 0; k < numClasses; k++) {
        const g = (p[k] / sum - (k === train.y[i] ? 1 : 0)) / n;
        gb[k] += g;
        for (let d = 0; d < dim; d++) gW[k * dim + d] += g * X[i * dim + d];
      }
    }
    for (let j = 0; j < W.length; j++) {
      vW[j] = 0.9 * vW[j] + gW[j] + 1e-4 * W[j];
      W[j] -= lr * vW[j];
    }
    for (let k = 0; k < numClasses; k++) {
      vb[k] = 0.9 * vb[k] + gb[k];
      b[k] -= lr * vb[k];
    }
  }
  let correct = 0;
  for (let i = 0; i < val.y.length; i++) {
    let best = 0;
    let bestScore = -Infinity;
    for (let k = 0; k < numClasses; k++) {
      let s = b[k];
      for (let d = 0; d < dim; d++) s += W[k * dim + d] * V[i * dim + d];
      if (s > bestScore) {
        bestScore = s;
        best = k;
      }
    }
    if (best === val.y[i]) correct++;
  }
  return correct / val.y.length;
}
