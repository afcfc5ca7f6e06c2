/**
 * The outputs a classifier file adds after its logits, so that every runtime gets calibrated
 * probabilities and the "unknown" answer from the graph itself (plain ONNX ops, opset 17):
 *
 *   probabilities = Softmax(logits / T)                           float32 [N, k]
 *   score         = max(probabilities)             (msp)          float32 [N]
 *                 | T * logsumexp(logits / T)      (energy)
 *                 | -min_c |W u - W mu_c|          (mahalanobis: u = the pooled features, L2-normalised;
 *                                                   src/metrics/feature-distance.ts)
 *                 | max_c (u . a_c + b_c)          (mahalanobis fitted with --unknown-dir: equals
 *                                                   |W u - W mu_u|^2 - min_c |W u - W mu_c|^2, mu_u the
 *                                                   centre of those images; one [D, k] MatMul)
 *   unknown       = score < threshold                             bool    [N]
 *
 * `logits` stays the first output, unchanged.
 */
import { GraphError } from '../errors.js';
import type { Graph } from '../onnx/graph.js';
import type { UnknownScore } from '../metrics/rejection.js';
import { NORM_EPSILON, type FeatureDistanceModel } from '../metrics/feature-distance.js';

/** Output names of a classifier file, in order (score and unknown only with a threshold). */
export const CLASSIFIER_OUTPUTS = { logits: 'logits', probabilities: 'probabilities', score: 'score', unknown: 'unknown' } as const;

export interface CalibratedOutputsOptions {
  /** The logits are divided by it before the softmax (1: uncalibrated). */
  temperature: number;
  /** With a threshold: the score and `unknown` outputs (the mahalanobis score needs `distance`). */
  rejection?: { score: UnknownScore; threshold: number; distance?: FeatureDistanceModel };
}

/**
 * -min_c |W u - W mu_c| of the pooled features [N, D]: one MatMul by W^T, then the distances to
 * the k whitened centres; with an unknown centre, max_c (u . a_c + b_c).
 */
function featureDistanceScore(g: Graph, features: string, d: FeatureDistanceModel): string {
  const norm = g.op('Sqrt', [g.op('Add', [g.op('ReduceSumSquare', [features], { axes: [1], keepdims: 1 }), g.scalar(NORM_EPSILON)])]);
  const u = g.op('Div', [features, norm]);
  if (d.unknownLinear) {
    const weights = g.initializer(g.uniqueName('unknown_ratio_weights'), { dtype: 'float32', shape: [d.dim, d.classes], data: Float32Array.from(d.unknownLinear.weights) });
    const bias = g.initializer(g.uniqueName('unknown_ratio_bias'), { dtype: 'float32', shape: [d.classes], data: Float32Array.from(d.unknownLinear.bias) });
    return g.op('ReduceMax', [g.op('Add', [g.op('MatMul', [u, weights]), bias])], { axes: [1], keepdims: 0 });
  }
  const whitenT = g.initializer(g.uniqueName('unknown_whiten_t'), { dtype: 'float32', shape: [d.dim, d.dim], data: Float32Array.from(d.whitenT) });
  const centers = g.initializer(g.uniqueName('unknown_class_centers'), { dtype: 'float32', shape: [d.classes, d.dim], data: Float32Array.from(d.centers) });
  const z = g.op('Unsqueeze', [g.op('MatMul', [u, whitenT]), g.ints([1])]);
  const distance = g.op('Sqrt', [g.op('ReduceSumSquare', [g.op('Sub', [z, centers])], { axes: [2], keepdims: 0 })]);
  return g.op('ReduceMax', [g.op('Neg', [distance])], { axes: [1], keepdims: 0 });
}

export function appendCalibratedOutputs(g: Graph, logits: string, o: CalibratedOutputsOptions, features?: string): void {
  const scaled = g.op('Div', [logits, g.scalar(o.temperature)], {}, 'temperature_scaling');
  const probabilities = g.op('Softmax', [scaled], { axis: 1 });
  g.output(g.alias(probabilities, CLASSIFIER_OUTPUTS.probabilities));
  if (!o.rejection) return;
  let score: string;
  if (o.rejection.score === 'mahalanobis') {
    if (!o.rejection.distance || !features)
      throw new GraphError('E_BAD_GRAPH', 'appendCalibratedOutputs: the mahalanobis score needs the fitted feature distance and the features', {
        hint: 'pass rejection.distance (fitFeatureDistance) and the features tensor',
      });
    score = featureDistanceScore(g, features, o.rejection.distance);
  } else if (o.rejection.score === 'msp') {
    score = g.op('ReduceMax', [probabilities], { axes: [1], keepdims: 0 });
  } else {
    const max = g.op('ReduceMax', [scaled], { axes: [1], keepdims: 1 });
    const sum = g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [scaled, max])]), g.ints([1])], { keepdims: 1 });
    const lse = g.op('Add', [max, g.op('Log', [sum])]);
    score = g.op('Squeeze', [g.op('Mul', [lse, g.scalar(o.temperature)]), g.ints([1])]);
  }
  g.output(g.alias(score, CLASSIFIER_OUTPUTS.score));
  g.output(g.alias(g.op('Less', [score, g.scalar(o.rejection.threshold)]), CLASSIFIER_OUTPUTS.unknown));
}
