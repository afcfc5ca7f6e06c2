import { ConfigError } from '../errors.js';
import type { Graph } from './graph.js';

/**
 * Softmax cross-entropy with label smoothing and class weights, exactly as
 * torch.nn.CrossEntropyLoss(weight=w, label_smoothing=e, reduction='mean'):
 *   loss_i = (1-e) w[y_i] (-log p_{i,y_i}) + (e/K) sum_k w_k (-log p_{i,k}),
 *   loss = sum_i loss_i / sum_i w[y_i].
 * Every term is linear in -log p, so the host computes one coefficient matrix C [B, K]
 * per batch and the graph computes loss = sum(C * -log_softmax(logits)); its gradient
 * (softmax * rowsum(C) - C) comes from the LogSoftmax rule.
 */
export function crossEntropyLoss(g: Graph, logits: string, coefficients: string): string {
  const logp = g.op('LogSoftmax', [logits], { axis: 1 });
  return g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [logp, coefficients])], { keepdims: 0 })]);
}

export interface CrossEntropyOptions {
  labelSmoothing?: number;
  /** One weight per class (torch's `weight`). */
  classWeights?: readonly number[];
}

/** The coefficient matrix for a batch of labels (row-major [B, K]). */
export function crossEntropyCoefficients(labels: ArrayLike<number>, numClasses: number, options: CrossEntropyOptions = {}, out?: Float32Array): Float32Array {
  const e = options.labelSmoothing ?? 0;
  if (e < 0 || e > 1) throw new ConfigError('E_BAD_OPTION', `label smoothing must be in [0, 1], found ${e}`);
  const w = options.classWeights;
  if (w && w.length !== numClasses) throw new ConfigError('E_BAD_OPTION', `class weights: expected ${numClasses} values (one per class), found ${w.length}`);
  const n = labels.length;
  const c = out ?? new Float32Array(n * numClasses);
  c.fill(0);
  let denom = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y < 0 || y >= numClasses || !Number.isInteger(y)) throw new ConfigError('E_BAD_ARGUMENT', `label ${y} is out of range for ${numClasses} classes`);
    denom += w ? w[y] : 1;
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    const row = i * numClasses;
    for (let k = 0; k < numClasses; k++) c[row + k] = ((e / numClasses) * (w ? w[k] : 1)) / denom;
    c[row + y] += ((1 - e) * (w ? w[y] : 1)) / denom;
  }
  return c;
}
