import onnxProto from 'onnx-proto';
import { GraphError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';
import type { AttrValue, Dim, Graph, Node, ValueInfo } from './graph.js';
import { NCHWC_DOMAIN, NCHWC_PREFIX } from './ops/nchwc.js';

const { onnx } = onnxProto;

/** The opset every graph headstart writes targets (ONNX Runtime 1.30 and onnxruntime-web run it). */
export const OPSET = 17;
const IR_VERSION = 8;

const DTYPE_CODES: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float64: 11 };
const CODE_DTYPES = Object.fromEntries(Object.entries(DTYPE_CODES).map(([k, v]) => [v, k as DType])) as Record<number, DType>;

/** Attributes whose plain-number values are floats in the ONNX schema. */
const FLOAT_ATTRS = new Set(['epsilon', 'momentum', 'alpha', 'beta', 'ratio', 'gamma', 'lambd', 'bias']);

function isTensor(v: AttrValue): v is HostTensor {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && 'data' in v && 'shape' in v;
}

function tensorProto(name: string, t: HostTensor): onnxProto.onnx.ITensorProto {
  const code = DTYPE_CODES[t.dtype];
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name, dims: t.shape, dataType: code, rawData: bytes };
}

function attrProto(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') return FLOAT_ATTRS.has(name) ? { name, type: A.FLOAT, f: v } : { name, type: A.INT, i: v };
  if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, type: A.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    return { name, type: A.INTS, ints: v as number[] };
  }
  if (isTensor(v)) return { name, type: A.TENSOR, t: tensorProto('', v) };
  if ('float' in v) return { name, type: A.FLOAT, f: v.float };
  return { name, type: A.FLOATS, floats: v.floats };
}

function valueInfoProto(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: DTYPE_CODES[v.dtype],
        shape: { dim: v.shape.map((d: Dim) => (d < 0 ? { dimParam: 'N' } : { dimValue: d })) },
      },
    },
  };
}

export interface SerializeOptions {
  /** Stored as the model's metadata_props (class names, preprocessing, ...). */
  metadata?: Record<string, string>;
  docString?: string;
  graphName?: string;
}

/** Serialises a graph to the bytes of an ONNX ModelProto. */
export function serializeModel(g: Graph, options: SerializeOptions = {}): Uint8Array {
  const initNames = new Set(g.initializers.keys());
  const model = onnx.ModelProto.create({
    irVersion: IR_VERSION,
    producerName: 'headstart',
    producerVersion: '0.1.0',
    docString: options.docString ?? '',
    opsetImport: g.nodes.some((n) => n.op.startsWith(NCHWC_PREFIX))
      ? [
          { domain: '', version: OPSET },
          { domain: NCHWC_DOMAIN, version: 1 },
        ]
      : [{ domain: '', version: OPSET }],
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: options.graphName ?? 'headstart',
      node: g.nodes.map((n: Node) => ({
        // Contrib ops are registered as `nchwc:Op` (src/onnx/ops/nchwc.ts); ONNX names the domain apart.
        ...(n.op.startsWith(NCHWC_PREFIX) ? { opType: n.op.slice(NCHWC_PREFIX.length), domain: NCHWC_DOMAIN } : { opType: n.op }),
        name: n.name,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attrProto(k, v)),
      })),
      initializer: [...g.initializers.entries()].map(([name, t]) => tensorProto(name, t)),
      input: g.inputs.filter((i) => !initNames.has(i.name)).map(valueInfoProto),
      output: g.outputs.map(valueInfoProto),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

function toNumber(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Decodes a TensorProto's values into a host tensor (raw or typed fields). */
export function tensorFromProto(t: onnxProto.onnx.ITensorProto): HostTensor {
  const dtype = CODE_DTYPES[t.dataType ?? 0];
  if (!dtype)
    throw new GraphError('E_UNSUPPORTED_OP', `Tensor \`${t.name}\` has ONNX data type ${t.dataType}, which headstart does not read`, { hint: 'supported: float, double, int32, int64, uint8, bool' });
  const shape = (t.dims ?? []).map((d) => toNumber(d as number));
  const n = shape.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  // A copy into a fresh, aligned buffer (protobufjs may hand out a view of a pooled Buffer).
  const copy = (bytes: Uint8Array) => {
    const out = new Uint8Array(bytes.length);
    out.set(bytes);
    return out.buffer;
  };
  switch (dtype) {
    case 'float32':
      return { dtype, shape, data: raw ? new Float32Array(copy(raw)) : Float32Array.from(t.floatData ?? []) };
    case 'float64':
      return { dtype, shape, data: raw ? new Float64Array(copy(raw)) : Float64Array.from(t.doubleData ?? []) };
    case 'int64':
      return { dtype, shape, data: raw ? new BigInt64Array(copy(raw)) : BigInt64Array.from((t.int64Data ?? []).map((v) => BigInt(toNumber(v as number)))) };
    case 'int32':
      return { dtype, shape, data: raw ? new Int32Array(copy(raw)) : Int32Array.from(t.int32Data ?? []) };
    default:
      return { dtype, shape, data: raw ? new Uint8Array(copy(raw)) : Uint8Array.from(t.int32Data ?? new Array(n).fill(0)) };
  }
}

export interface ParsedModel {
  model: onnxProto.onnx.ModelProto;
  metadata: Record<string, string>;
  opset: number;
}

/** Decodes ONNX bytes; the caller decides whether to rebuild a Graph from them. */
export function parseModel(bytes: Uint8Array): ParsedModel {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new GraphError('E_BAD_MODEL_FILE', 'Not a valid ONNX file: the protobuf could not be decoded (the file is truncated, or another kind of file)', {
      cause: err,
      hint: 'check that the file is a complete .onnx model',
    });
  }
  if (!model.graph) throw new GraphError('E_BAD_MODEL_FILE', 'The ONNX file holds no graph', { hint: 'check that the file is an ONNX model, not another protobuf' });
  const metadata = Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  const opset = toNumber((model.opsetImport ?? []).find((o) => !o.domain)?.version as number);
  return { model, metadata, opset };
}

/** Reads an attribute proto back into an AttrValue. */
export function attrFromProto(a: onnxProto.onnx.IAttributeProto): AttrValue {
  const A = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case A.FLOAT:
      return { float: a.f ?? 0 };
    case A.INT:
      return toNumber(a.i as number);
    case A.STRING:
      return new TextDecoder().decode(a.s ?? new Uint8Array());
    case A.INTS:
      return (a.ints ?? []).map((v) => toNumber(v as number));
    case A.FLOATS:
      return { floats: a.floats ?? [] };
    case A.STRINGS:
      return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
    case A.TENSOR:
      return tensorFromProto(a.t!);
    default:
      throw new GraphError('E_UNSUPPORTED_OP', `Attribute \`${a.name}\` has a type headstart does not read (${a.type})`, { hint: 'graphs and sparse tensors as attributes are not supported' });
  }
}
