import { GraphError } from '../errors.js';
import type { DType } from '../tensor.js';
import type { AttrValue } from './graph.js';
import { Graph } from './graph.js';
import { hasOp } from './op-registry.js';
import './ops/index.js';
import { attrFromProto, parseModel, tensorFromProto } from './serialize.js';

const ELEM_TYPES: Record<number, DType> = { 1: 'float32', 2: 'uint8', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };

export interface ImportedGraph {
  graph: Graph;
  metadata: Record<string, string>;
  opset: number;
}

export interface ImportOptions {
  /** Size to use for dynamic (symbolic) input dimensions, e.g. the batch. Default -1 (dynamic). */
  dynamicDim?: number;
}

/**
 * Parses ONNX bytes back into a Graph, re-running headstart's shape inference on every node.
 * Ops headstart does not know are reported together, so the user learns all of them at once.
 */
export function importGraph(bytes: Uint8Array, options: ImportOptions = {}): ImportedGraph {
  const { model, metadata, opset } = parseModel(bytes);
  const gp = model.graph!;
  const unknown = [...new Set((gp.node ?? []).map((n) => n.opType ?? '').filter((op) => !hasOp(op)))];
  if (unknown.length > 0) {
    throw new GraphError('E_UNSUPPORTED_OP', `The ONNX graph uses ops headstart cannot build: ${unknown.join(', ')}`, {
      hint: 'use it as a frozen backbone cut before these ops, or export the model with simpler ops',
    });
  }
  const g = new Graph();
  const initNames = new Set<string>();
  for (const t of gp.initializer ?? []) {
    g.initializer(t.name ?? '', tensorFromProto(t));
    initNames.add(t.name ?? '');
  }
  for (const vi of gp.input ?? []) {
    const name = vi.name ?? '';
    if (initNames.has(name)) continue;
    const tt = vi.type?.tensorType;
    const dtype = ELEM_TYPES[tt?.elemType ?? 1];
    if (!dtype) throw new GraphError('E_UNSUPPORTED_DTYPE', `Graph input \`${name}\` has an unsupported element type ${tt?.elemType}`);
    const shape = (tt?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 ? Number(d.dimValue) : (options.dynamicDim ?? -1)));
    g.input(name, dtype, shape);
  }
  for (const n of gp.node ?? []) {
    const attrs: Record<string, AttrValue> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrFromProto(a);
    const op = n.opType ?? '';
    if (op === 'Constant') {
      const value = attrs.value;
      if (!value || typeof value !== 'object' || !('data' in value)) throw new GraphError('E_UNSUPPORTED_OP', `Constant node \`${n.name}\` without a tensor value is not supported`);
      g.initializer(n.output![0], value);
      continue;
    }
    g.node(op, n.input ?? [], attrs, { outputs: n.output ?? [], name: n.name || undefined });
  }
  for (const o of gp.output ?? []) g.output(o.name ?? '');
  return { graph: g, metadata, opset };
}
