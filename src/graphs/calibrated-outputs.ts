/**
 * The outputs a classifier file adds after its logits, so that every runtime gets calibrated
 * probabilities and the "unknown" answer from the graph itself (plain ONNX ops, opset 17):
 *
 *   probabilities = Softmax(logits / T)                           float32 [N, k]
 *   score         = max(probabilities)             (msp)          float32 [N]
 *                 | T * logsumexp(logits / T)      (energy)
 *   unknown       = score < threshold                             bool    [N]
 *
 * `logits` stays the first output, unchanged.
 */
import type { Graph } from '../onnx/graph.js';
import type { UnknownScore } from '../metrics/rejection.js';

/** Output names of a classifier file, in order (score and unknown only with a threshold). */
export const CLASSIFIER_OUTPUTS = { logits: 'logits', probabilities: 'probabilities', score: 'score', unknown: 'unknown' } as const;

export interface CalibratedOutputsOptions {
  /** The logits are divided by it before the softmax (1: uncalibrated). */
  temperature: number;
  /** With a threshold: the score and `unknown` outputs. */
  rejection?: { score: UnknownScore; threshold: number };
}

export function appendCalibratedOutputs(g: Graph, logits: string, o: CalibratedOutputsOptions): void {
  const scaled = g.op('Div', [logits, g.scalar(o.temperature)], {}, 'temperature_scaling');
  const probabilities = g.op('Softmax', [scaled], { axis: 1 });
  g.output(g.alias(probabilities, CLASSIFIER_OUTPUTS.probabilities));
  if (!o.rejection) return;
  let score: string;
  if (o.rejection.score === 'msp') {
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
