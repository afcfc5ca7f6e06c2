import type onnxProto from 'onnx-proto';
import { GraphError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';
import type { AttrValue } from './graph.js';
import { Graph } from './graph.js';
import { hasOp } from './op-registry.js';
import './ops/index.js';
import { toOpset17 } from './opset-forms.js';
import { attrFromProto, parseModel, tensorFromProto } from './serialize.js';

const ELEM_TYPES: Record<number, DType> = { 1: 'float32', 2: 'uint8', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };
const ELEM_NAMES: Record<number, string> = { 3: 'int8', 4: 'uint16', 5: 'int16', 8: 'string', 10: 'float16', 12: 'uint32', 13: 'uint64', 14: 'complex64', 15: 'complex128', 16: 'bfloat16' };

export interface ImportedGraph {
  graph: Graph;
  metadata: Record<string, string>;
  opset: number;
}

export interface ImportOptions {
  /** Size to use for dynamic (symbolic) input dimensions, e.g. the batch. Default -1 (dynamic). */
  dynamicDim?: number;
  /**
   * Tensors for initializers whose data the file keeps outside (external data), by
   * initializer name; `readOnnxFile` reads them from beside the model and passes them here.
   */
  externalData?: Map<string, HostTensor>;
}

type ProtoNode = onnxProto.onnx.INodeProto;

/** `Op` (node `name`) for messages; nodes without a name get their op and position. */
function nodeLabel(n: ProtoNode, index: number): string {
  return `${n.opType} node \`${n.name || `#${index}`}\``;
}

/** Whether a tensor proto keeps its bytes in another file (data_location = EXTERNAL). */
export function isExternal(t: { dataLocation?: number | null }): boolean {
  return Number(t.dataLocation) === 1;
}

/** The value of a Constant node, from whichever attribute holds it. */
function constantValue(n: ProtoNode, index: number, attrs: Record<string, AttrValue>): HostTensor {
  const v = attrs.value;
  if (v && typeof v === 'object' && !Array.isArray(v) && 'data' in v) return v;
  if (typeof attrs.value_int === 'number') return { dtype: 'int64', shape: [], data: BigInt64Array.of(BigInt(attrs.value_int)) };
  if (Array.isArray(attrs.value_ints)) return { dtype: 'int64', shape: [attrs.value_ints.length], data: BigInt64Array.from((attrs.value_ints as number[]).map((x) => BigInt(x))) };
  const f = attrs.value_float;
  if (f && typeof f === 'object' && 'float' in f) return { dtype: 'float32', shape: [], data: Float32Array.of(f.float) };
  const fs = attrs.value_floats;
  if (fs && typeof fs === 'object' && 'floats' in fs) return { dtype: 'float32', shape: [fs.floats.length], data: Float32Array.from(fs.floats) };
  const which = Object.keys(attrs).join(', ') || 'none';
  throw new GraphError('E_UNSUPPORTED_OP', `${nodeLabel(n, index)}: a Constant given by \`${which}\` is not supported (strings and sparse tensors are not)`, {
    hint: 'headstart reads Constant nodes holding numeric tensors',
  });
}

/**
 * Parses ONNX bytes back into a Graph, re-running headstart's shape inference on every node.
 * Constant nodes become initializers; older or newer opset forms are rewritten to opset 17
 * (see opset-forms.ts). Ops headstart does not know are reported together, each with a node,
 * so the user learns all of them at once.
 */
export function importGraph(bytes: Uint8Array, options: ImportOptions = {}): ImportedGraph {
  const { model, metadata, opset } = parseModel(bytes);
  const gp = model.graph!;
  const nodes = gp.node ?? [];
  const unknown = new Map<string, string>();
  nodes.forEach((n, i) => {
    const op = (n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.` : '') + (n.opType ?? '');
    if (op !== 'Constant' && !hasOp(op) && !unknown.has(op)) unknown.set(op, `${op} node \`${n.name || `#${i}`}\``);
  });
  if (unknown.size > 0) {
    const list = [...unknown.values()].join(', ');
    throw new GraphError('E_UNSUPPORTED_OP', `The ONNX graph uses ops headstart cannot build: ${list}`, {
      hint: 'use it as a frozen backbone cut before these ops (--cut), or export the model with simpler ops',
    });
  }
  const consumerOf = (value: string): string => {
    const i = nodes.findIndex((n) => (n.input ?? []).includes(value));
    return i < 0 ? 'no node' : nodeLabel(nodes[i], i);
  };
  const g = new Graph();
  g.reserve([...(gp.initializer ?? []).map((t) => t.name ?? ''), ...(gp.input ?? []).map((v) => v.name ?? ''), ...nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])]);
  const initNames = new Set<string>();
  for (const t of gp.initializer ?? []) {
    const name = t.name ?? '';
    let tensor: HostTensor;
    if (isExternal(t)) {
      const ext = options.externalData?.get(name);
      if (!ext)
        throw new GraphError('E_BAD_MODEL_FILE', `Initializer \`${name}\` keeps its data in an external file, which was not read`, {
          hint: 'load the model with readOnnxFile(path), which reads external data from beside it',
        });
      tensor = ext;
    } else {
      try {
        tensor = tensorFromProto(t);
      } catch (err) {
        throw new GraphError('E_UNSUPPORTED_OP', `Initializer \`${name}\` (read by ${consumerOf(name)}): ${(err as Error).message}`, {
          cause: err,
          hint: 'headstart reads float32, float64, int32, int64, uint8 and bool tensors',
        });
      }
    }
    g.initializer(name, tensor);
    initNames.add(name);
  }
  for (const vi of gp.input ?? []) {
    const name = vi.name ?? '';
    if (initNames.has(name)) continue;
    const tt = vi.type?.tensorType;
    if (!tt) {
      const kind = vi.type?.sequenceType ? 'a sequence' : vi.type?.optionalType ? 'an optional' : vi.type?.mapType ? 'a map' : 'not a tensor';
      throw new GraphError('E_UNSUPPORTED_OP', `Graph input \`${name}\` (read by ${consumerOf(name)}) is ${kind}; headstart's graphs hold tensors only`, {
        hint: 'export the model with tensor inputs',
      });
    }
    const code = tt.elemType ?? 1;
    const dtype = ELEM_TYPES[code];
    const used = nodes.some((n) => (n.input ?? []).includes(name)) || (gp.output ?? []).some((o) => o.name === name);
    if (!dtype && !used) continue; // an unused input of a type headstart does not hold is dropped
    if (!dtype) {
      throw new GraphError(
        'E_UNSUPPORTED_OP',
        `Graph input \`${name}\` (read by ${consumerOf(name)}) has element type ${ELEM_NAMES[code] ?? code}; headstart's graphs use float32, float64, int32, int64, uint8 and bool`,
        {
          hint: 'export the model with float32 inputs',
        },
      );
    }
    const shape = (tt.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) >= 0 ? Number(d.dimValue) : (options.dynamicDim ?? -1)));
    g.input(name, dtype, shape);
  }
  nodes.forEach((n, index) => {
    const attrs: Record<string, AttrValue> = {};
    for (const a of n.attribute ?? []) attrs[a.name ?? ''] = attrFromProto(a);
    const op = n.opType ?? '';
    if (op === 'Constant') {
      g.initializer(n.output![0], constantValue(n, index, attrs));
      return;
    }
    const name = n.name || `${op}_${index}`;
    for (const r of toOpset17(g, { op, name, inputs: [...(n.input ?? [])], outputs: [...(n.output ?? [])], attrs }, opset)) {
      g.node(r.op, r.inputs, r.attrs, { outputs: r.outputs, name: r.name, exactOutputs: true });
    }
  });
  for (const o of gp.output ?? []) {
    const name = o.name ?? '';
    if (!g.has(name)) throw new GraphError('E_BAD_GRAPH', `Graph output \`${name}\` is not produced by any node`, { hint: 'the file may be truncated or malformed' });
    const tt = o.type?.tensorType;
    if (o.type && !tt)
      throw new GraphError('E_UNSUPPORTED_OP', `Graph output \`${name}\` is not a tensor (a sequence or optional); headstart's graphs hold tensors only`, {
        hint: 'export the model with tensor outputs',
      });
    g.output(name);
  }
  return { graph: g, metadata, opset };
}
