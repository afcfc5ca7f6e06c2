/**
 * The parameters of a network for a class count — names, shapes, torch-default initialisers —
 * declared by building its eval graph (shape inference only; nothing is serialised or run).
 */
import { buildNetwork } from './network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import { NetBuilder, type ParamDef } from '../models/net-builder.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';

export function networkParamDefs(spec: ModelSpec, numClasses: number, inputSize = spec.preprocess.inputSize): ParamDef[] {
  const g = new Graph();
  const b = new NetBuilder(g, { mode: 'eval' });
  buildNetwork(b, spec, g.input('images', 'float32', [1, 3, inputSize, inputSize]), numClasses);
  return b.params;
}

/** The head's parameter names (weight, bias). */
export function headParamNames(spec: ModelSpec): string[] {
  return [`${spec.head.name}.weight`, `${spec.head.name}.bias`];
}
