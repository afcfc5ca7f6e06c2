import { GraphError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';
import type { AttrValue, Graph } from './graph.js';
import { OPSET } from './serialize.js';

/**
 * headstart's graph IR is ONNX opset 17 (what it serialises). An imported model may use an
 * older or newer opset in which some ops take an attribute where opset 17 takes an input
 * (axes, split, pads, starts/ends, min/max, ratio) or mean something else (Softmax before 13
 * flattens to 2-D). `toOpset17` rewrites one imported node into opset-17 nodes with the same
 * meaning, adding the constants it needs to the graph.
 */
export interface RawNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

const BROADCAST_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Equal', 'Greater', 'Less', 'And', 'Or']);
const CAST_NAMES: Record<string, number> = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 };

function ints(v: AttrValue | undefined): number[] | undefined {
  return Array.isArray(v) ? (v as number[]) : undefined;
}

function floatOf(v: AttrValue | undefined, fallback: number): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'float' in v) return v.float;
  return fallback;
}

/** A scalar constant of the dtype of `like` (Clip bounds, Pad values). */
function scalarLike(g: Graph, like: string, value: number): string {
  const dtype: DType = g.dtype(like);
  const data: HostTensor['data'] =
    dtype === 'float32'
      ? Float32Array.of(value)
      : dtype === 'float64'
        ? Float64Array.of(value)
        : dtype === 'int64'
          ? BigInt64Array.of(BigInt(value))
          : dtype === 'int32'
            ? Int32Array.of(value)
            : Uint8Array.of(value);
  return g.initializer(g.uniqueName('const_scalar'), { dtype, shape: [], data });
}

function refuse(node: RawNode, opset: number, what: string): never {
  throw new GraphError('E_UNSUPPORTED_OP', `${node.op} node \`${node.name}\` (opset ${opset}): ${what}`, { hint: 'export the model at opset 13..17' });
}

/** Moves an ints attribute to an int64 input at position `index` (opset-17 form). */
function attrToInput(g: Graph, node: RawNode, attr: string, index: number): void {
  const v = ints(node.attrs[attr]);
  delete node.attrs[attr];
  if (v === undefined) return;
  while (node.inputs.length < index) node.inputs.push('');
  node.inputs[index] = g.ints(v);
}

export function toOpset17(g: Graph, node: RawNode, opset: number): RawNode[] {
  delete node.attrs.consumed_inputs;
  if (opset > OPSET) return fromNewer(g, node, opset);
  if (opset >= OPSET) return [node];
  const { op } = node;
  if (BROADCAST_OPS.has(op) && opset < 7) {
    const axis = node.attrs.axis;
    const broadcast = node.attrs.broadcast;
    delete node.attrs.axis;
    delete node.attrs.broadcast;
    if (broadcast === 1 && typeof axis === 'number') {
      // Legacy broadcasting aligns B at `axis` of A: pad B's shape with trailing 1s.
      const a = g.shape(node.inputs[0]);
      const b = g.shape(node.inputs[1]);
      const start = axis < 0 ? axis + a.length : axis;
      const target = [...b, ...new Array<number>(Math.max(0, a.length - start - b.length)).fill(1)];
      if (b.some((d) => d < 0)) refuse(node, opset, 'legacy broadcasting of a dynamic-shaped input');
      const reshaped = g.op('Reshape', [node.inputs[1], g.ints(target)]);
      node.inputs = [node.inputs[0], reshaped];
    }
  }
  switch (op) {
    case 'Split':
      if (opset < 13) attrToInput(g, node, 'split', 1);
      break;
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum':
      if (opset < 13) attrToInput(g, node, 'axes', 1);
      break;
    case 'Reshape':
      if (opset < 5) attrToInput(g, node, 'shape', 1);
      break;
    case 'Slice':
      if (opset < 10) {
        const axes = ints(node.attrs.axes);
        attrToInput(g, node, 'starts', 1);
        attrToInput(g, node, 'ends', 2);
        if (axes) attrToInput(g, node, 'axes', 3);
      }
      break;
    case 'Pad':
      if (opset < 11) {
        const value = floatOf(node.attrs.value, 0);
        delete node.attrs.value;
        attrToInput(g, node, 'pads', 1);
        if (value !== 0) node.inputs[2] = scalarLike(g, node.inputs[0], value);
      }
      break;
    case 'Clip':
      if (opset < 11) {
        const lo = node.attrs.min;
        const hi = node.attrs.max;
        delete node.attrs.min;
        delete node.attrs.max;
        node.inputs = [node.inputs[0], lo === undefined ? '' : scalarLike(g, node.inputs[0], floatOf(lo, 0)), hi === undefined ? '' : scalarLike(g, node.inputs[0], floatOf(hi, 0))];
        while (node.inputs[node.inputs.length - 1] === '') node.inputs.pop();
      }
      break;
    case 'Dropout':
      if (opset < 12) {
        if (node.attrs.is_test === 0) refuse(node, opset, 'training-mode Dropout (is_test=0) cannot be reproduced');
        const ratio = floatOf(node.attrs.ratio, 0.5);
        delete node.attrs.ratio;
        delete node.attrs.is_test;
        node.inputs = [node.inputs[0], scalarLike(g, node.inputs[0], ratio)];
      }
      break;
    case 'BatchNormalization':
      if (opset < 9 && node.attrs.spatial === 0) refuse(node, opset, 'spatial=0 (per-activation statistics)');
      if (opset < 7 && node.attrs.is_test === 0) refuse(node, opset, 'training-mode BatchNormalization (is_test=0)');
      delete node.attrs.spatial;
      delete node.attrs.is_test;
      if (opset < 14 && node.outputs.filter(Boolean).length > 1) refuse(node, opset, 'the training outputs (running and saved statistics) of opset < 14');
      break;
    case 'Cast':
      if (typeof node.attrs.to === 'string') {
        const code = CAST_NAMES[node.attrs.to];
        if (code === undefined) refuse(node, opset, `cast to ${node.attrs.to}`);
        node.attrs.to = code;
      }
      break;
    case 'Concat':
      if (opset < 4 && node.attrs.axis === undefined) node.attrs.axis = 1;
      break;
    case 'Gemm':
      delete node.attrs.broadcast;
      break;
    case 'Softmax':
    case 'LogSoftmax':
      if (opset < 13) return legacySoftmax(g, node, opset);
      break;
  }
  return [node];
}

/** Before opset 13, (Log)Softmax flattens its input to 2-D at `axis` (default 1) and normalises each row. */
function legacySoftmax(g: Graph, node: RawNode, opset: number): RawNode[] {
  const shape = g.shape(node.inputs[0]);
  const raw = typeof node.attrs.axis === 'number' ? node.attrs.axis : 1;
  const axis = raw < 0 ? raw + shape.length : raw;
  if (axis === shape.length - 1) return [{ ...node, attrs: { axis: -1 } }];
  if (shape.filter((d) => d < 0).length > 1) refuse(node, opset, `axis ${raw} over a shape with several dynamic dimensions [${shape}]`);
  const flat = g.uniqueName(`${node.name}_flat`);
  const soft = g.uniqueName(`${node.name}_2d`);
  return [
    { op: 'Flatten', name: g.uniqueName(`${node.name}_flatten`), inputs: [node.inputs[0]], outputs: [flat], attrs: { axis } },
    { op: node.op, name: node.name, inputs: [flat], outputs: [soft], attrs: { axis: 1 } },
    { op: 'Reshape', name: g.uniqueName(`${node.name}_unflatten`), inputs: [soft, g.ints(shape)], outputs: node.outputs, attrs: {} },
  ];
}

/** Opset 18 moved the axes of ReduceMean/Max/SumSquare to an input and gave Split num_outputs. */
function fromNewer(g: Graph, node: RawNode, opset: number): RawNode[] {
  if (['ReduceMean', 'ReduceMax', 'ReduceSumSquare'].includes(node.op) && node.inputs[1]) {
    node.attrs.axes = g.constantInts(node.inputs[1], 'axes');
    node.inputs = [node.inputs[0]];
  }
  if (node.op === 'Split') delete node.attrs.num_outputs;
  if (node.op === 'Pad' && node.inputs[3]) refuse(node, opset, 'the `axes` input of Pad');
  return [node];
}
