/**
 * The training graph of a classifier head alone: cached features [B, D] in, the head's
 * Linear (the spec's head name, so its parameters drop straight into the full network),
 * softmax cross-entropy, gradients by the same autodiff as the full network. Dropout, when
 * the head has it, is a mask fed from the host (seeded), so a resumed run draws the same
 * masks as an uninterrupted one.
 */
import { appendTrainingOutputs, IO } from './network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import { NetBuilder, type ParamDef } from '../models/net-builder.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import { serializeModel } from '../onnx/serialize.js';

/** Input name of the dropout mask (values 0 or 1/(1-p)). */
export const DROPOUT_MASK = 'dropout_mask';

export interface HeadGraph {
  bytes: Uint8Array;
  batch: number;
  featureDim: number;
  numClasses: number;
  params: ParamDef[];
  trainable: string[];
  /** Dropout probability of the head (0: no mask input). */
  dropout: number;
}

export function buildHeadTrainingGraph(spec: ModelSpec, options: { batch: number; numClasses: number; featureDim?: number }): HeadGraph {
  const featureDim = options.featureDim ?? spec.featureDim;
  const g = new Graph();
  let x = g.input(IO.features, 'float32', [options.batch, featureDim]);
  const p = spec.head.dropout;
  if (p > 0) x = g.op('Mul', [x, g.input(DROPOUT_MASK, 'float32', [options.batch, featureDim])]);
  const b = new NetBuilder(g, { mode: 'train' });
  const logits = b.linear(x, spec.head.name, options.numClasses);
  const trainable = appendTrainingOutputs(g, b, logits, options);
  return { bytes: serializeModel(g), batch: options.batch, featureDim, numClasses: options.numClasses, params: b.params, trainable, dropout: p };
}
