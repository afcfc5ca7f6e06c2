import { z } from 'zod';
import { parseOrThrow } from '../zod-issues.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import { numel } from '../tensor.js';
import type { ModelSpec } from '../models/model-spec.js';
import { NetBuilder } from '../models/net-builder.js';

export interface ParamCount {
  /** Learnable values of the backbone (weights and biases; BatchNorm running statistics excluded, as torch counts). */
  features: number;
  /** Learnable values of the head Linear(featureDim, numClasses). */
  head: number;
  total: number;
  /** BatchNorm running statistics (buffers). */
  buffers: number;
}

const OptionsSchema = z.strictObject({
  /** Class count of the head (default: the first weight source's, else 1000). */
  numClasses: z.number().int().positive().optional(),
});
export type ParamCountOptions = z.input<typeof OptionsSchema>;

/** Counts a spec's parameters by declaring its graph (shape inference only, nothing runs). */
export function countParams(spec: ModelSpec, options?: ParamCountOptions): ParamCount {
  const parsed = parseOrThrow(OptionsSchema, options ?? {}, 'Invalid parameter-count options');
  const numClasses = parsed.numClasses ?? spec.weights[0]?.numClasses ?? 1000;
  const g = new Graph();
  const size = spec.preprocess.inputSize;
  const b = new NetBuilder(g, { mode: 'eval' });
  const features = spec.features(b, g.input('images', 'float32', [1, 3, size, size]));
  b.linear(features, spec.head.name, numClasses);
  const count = { features: 0, head: 0, total: 0, buffers: 0 };
  const headPrefix = `${spec.head.name}.`;
  for (const p of b.params) {
    const n = numel(p.shape);
    if (p.role === 'running_mean' || p.role === 'running_var') count.buffers += n;
    else if (p.name.startsWith(headPrefix)) count.head += n;
    else count.features += n;
  }
  count.total = count.features + count.head;
  return count;
}
