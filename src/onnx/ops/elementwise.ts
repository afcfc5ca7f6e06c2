import { GraphError } from '../../errors.js';
import type { DType } from '../../tensor.js';
import type { Graph, Node } from '../graph.js';
import type { OutputInfo } from '../op-registry.js';
import { broadcastShapes, floatAttr, registerOp } from '../op-registry.js';
import { unbroadcast } from './unbroadcast.js';

/** Elementwise ops: arithmetic with broadcasting, activations, comparisons. */

const sameAsInput = (g: Graph, node: Node): OutputInfo[] => [{ ...g.info(node.inputs[0]) }];
const broadcastInfer = (g: Graph, node: Node): OutputInfo[] => [{ dtype: g.dtype(node.inputs[0]), shape: node.inputs.map((i) => g.shape(i)).reduce((a, b) => broadcastShapes(a, b)) }];
const boolInfer = (g: Graph, node: Node): OutputInfo[] => [{ dtype: 'bool', shape: broadcastShapes(g.shape(node.inputs[0]), g.shape(node.inputs[1])) }];

const binaryShapes = [
  [2, 3],
  [2, 3],
];
const broadcastShapesCase = [
  [2, 3, 4],
  [3, 1],
];

registerOp({
  type: 'Add',
  infer: broadcastInfer,
  grad: (g, node, [dy], needs) => node.inputs.map((x, i) => (needs[i] ? unbroadcast(g, dy!, g.shape(x)) : undefined)),
  gradCases: [
    { label: 'same shape', build: (g, [a, b]) => g.op('Add', [a, b]), inputShapes: binaryShapes },
    { label: 'broadcast', build: (g, [a, b]) => g.op('Add', [a, b]), inputShapes: broadcastShapesCase },
  ],
});

registerOp({
  type: 'Sub',
  infer: broadcastInfer,
  grad: (g, node, [dy], needs) => [needs[0] ? unbroadcast(g, dy!, g.shape(node.inputs[0])) : undefined, needs[1] ? unbroadcast(g, g.op('Neg', [dy!]), g.shape(node.inputs[1])) : undefined],
  gradCases: [{ label: 'broadcast', build: (g, [a, b]) => g.op('Sub', [a, b]), inputShapes: broadcastShapesCase }],
});

registerOp({
  type: 'Mul',
  infer: broadcastInfer,
  grad: (g, node, [dy], needs) => {
    const [a, b] = node.inputs;
    return [needs[0] ? unbroadcast(g, g.op('Mul', [dy!, b]), g.shape(a)) : undefined, needs[1] ? unbroadcast(g, g.op('Mul', [dy!, a]), g.shape(b)) : undefined];
  },
  gradCases: [
    { label: 'same shape', build: (g, [a, b]) => g.op('Mul', [a, b]), inputShapes: binaryShapes },
    {
      label: 'broadcast (SE-style channel gate)',
      build: (g, [a, b]) => g.op('Mul', [a, b]),
      inputShapes: [
        [2, 3, 2, 2],
        [2, 3, 1, 1],
      ],
    },
  ],
});

registerOp({
  type: 'Div',
  infer: broadcastInfer,
  grad: (g, node, [dy], needs) => {
    const [a, b] = node.inputs;
    const y = node.outputs[0];
    return [needs[0] ? unbroadcast(g, g.op('Div', [dy!, b]), g.shape(a)) : undefined, needs[1] ? unbroadcast(g, g.op('Neg', [g.op('Div', [g.op('Mul', [dy!, y]), b])]), g.shape(b)) : undefined];
  },
  gradCases: [{ label: 'broadcast', build: (g, [a, b]) => g.op('Div', [a, b]), inputShapes: broadcastShapesCase, sample: 'positive' }],
});

registerOp({
  type: 'Sum',
  infer: broadcastInfer,
  grad: (g, node, [dy], needs) => node.inputs.map((x, i) => (needs[i] ? unbroadcast(g, dy!, g.shape(x)) : undefined)),
  gradCases: [{ label: 'three inputs', build: (g, xs) => g.op('Sum', xs), inputShapes: [[2, 3], [2, 3], [3]] }],
});

registerOp({
  type: 'Neg',
  infer: sameAsInput,
  grad: (g, _node, [dy]) => [g.op('Neg', [dy!])],
  gradCases: [{ label: 'neg', build: (g, [a]) => g.op('Neg', [a]), inputShapes: [[5]] }],
});

registerOp({
  type: 'Identity',
  infer: sameAsInput,
  grad: (_g, _node, [dy]) => [dy],
  gradCases: [{ label: 'identity', build: (g, [a]) => g.op('Identity', [a]), inputShapes: [[5]] }],
});

registerOp({
  type: 'Exp',
  infer: sameAsInput,
  grad: (g, node, [dy]) => [g.op('Mul', [dy!, node.outputs[0]])],
  gradCases: [{ label: 'exp', build: (g, [a]) => g.op('Exp', [a]), inputShapes: [[5]] }],
});

registerOp({
  type: 'Log',
  infer: sameAsInput,
  grad: (g, node, [dy]) => [g.op('Div', [dy!, node.inputs[0]])],
  gradCases: [{ label: 'log', build: (g, [a]) => g.op('Log', [a]), inputShapes: [[5]], sample: 'positive' }],
});

registerOp({
  type: 'Sqrt',
  infer: sameAsInput,
  grad: (g, node, [dy]) => [g.op('Div', [g.op('Mul', [dy!, g.scalar(0.5)]), node.outputs[0]])],
  gradCases: [{ label: 'sqrt', build: (g, [a]) => g.op('Sqrt', [a]), inputShapes: [[5]], sample: 'positive' }],
});

registerOp({
  type: 'Reciprocal',
  infer: sameAsInput,
  grad: (g, node, [dy]) => {
    const y = node.outputs[0];
    return [g.op('Neg', [g.op('Mul', [dy!, g.op('Mul', [y, y])])])];
  },
  gradCases: [{ label: 'reciprocal', build: (g, [a]) => g.op('Reciprocal', [a]), inputShapes: [[5]], sample: 'positive' }],
});

registerOp({
  type: 'Relu',
  infer: sameAsInput,
  // Mask from the output: y > 0 exactly where x > 0, and y is usually kept alive anyway.
  grad: (g, node, [dy]) => [g.op('Where', [g.op('Greater', [node.outputs[0], g.scalar(0)]), dy!, g.scalar(0)])],
  gradCases: [{ label: 'relu', build: (g, [a]) => g.op('Relu', [a]), inputShapes: [[3, 4]] }],
});

registerOp({
  type: 'Clip',
  infer: sameAsInput,
  // Mask from the output, like Relu: y > lo exactly where x > lo and y < hi exactly where x < hi
  // (y = min(max(x, lo), hi)), so the input (a BatchNorm output in MobileNetV2) need not be kept.
  grad: (g, node, [dy]) => {
    const [, lo, hi] = node.inputs;
    const y = node.outputs[0];
    let mask: string | undefined;
    if (lo) mask = g.op('Greater', [y, lo]);
    if (hi) {
      const upper = g.op('Less', [y, hi]);
      mask = mask ? g.op('And', [mask, upper]) : upper;
    }
    return [mask ? g.op('Where', [mask, dy!, g.scalar(0)]) : dy];
  },
  gradCases: [{ label: 'relu6', build: (g, [a]) => g.op('Clip', [a, g.scalar(0), g.scalar(6)]), inputShapes: [[3, 4]], scale: 8 }],
});

registerOp({
  type: 'Sigmoid',
  infer: sameAsInput,
  grad: (g, node, [dy]) => {
    const y = node.outputs[0];
    return [g.op('Mul', [dy!, g.op('Mul', [y, g.op('Sub', [g.scalar(1), y])])])];
  },
  gradCases: [{ label: 'sigmoid', build: (g, [a]) => g.op('Sigmoid', [a]), inputShapes: [[3, 4]], scale: 3 }],
});

registerOp({
  type: 'HardSigmoid',
  infer: sameAsInput,
  grad: (g, node, [dy]) => {
    const alpha = floatAttr(node, 'alpha', 0.2);
    const beta = floatAttr(node, 'beta', 0.5);
    const x = node.inputs[0];
    const z = g.op('Add', [g.op('Mul', [x, g.scalar(alpha)]), g.scalar(beta)]);
    const inside = g.op('And', [g.op('Greater', [z, g.scalar(0)]), g.op('Less', [z, g.scalar(1)])]);
    return [g.op('Where', [inside, g.op('Mul', [dy!, g.scalar(alpha)]), g.scalar(0)])];
  },
  gradCases: [{ label: 'torch hardsigmoid', build: (g, [a]) => g.op('HardSigmoid', [a], { alpha: 1 / 6, beta: 0.5 }), inputShapes: [[3, 4]], scale: 5 }],
});

registerOp({
  type: 'HardSwish',
  infer: sameAsInput,
  // torch: 0 below -3, 1 above 3, x/3 + 1/2 between.
  grad: (g, node, [dy]) => {
    const x = node.inputs[0];
    const mid = g.op('Add', [g.op('Mul', [x, g.scalar(1 / 3)]), g.scalar(0.5)]);
    const upper = g.op('Where', [g.op('Greater', [x, g.scalar(3)]), g.scalar(1), mid]);
    const slope = g.op('Where', [g.op('Less', [x, g.scalar(-3)]), g.scalar(0), upper]);
    return [g.op('Mul', [dy!, slope])];
  },
  gradCases: [{ label: 'hardswish', build: (g, [a]) => g.op('HardSwish', [a]), inputShapes: [[4, 5]], scale: 5 }],
});

/** SiLU (swish) is x * sigmoid(x): ONNX has no op for it before opset 24, so it is composed. */
export function silu(g: Graph, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

for (const type of ['Greater', 'Less', 'Equal', 'And', 'Or']) registerOp({ type, infer: boolInfer });
registerOp({ type: 'Not', infer: sameAsInput });

registerOp({
  type: 'Where',
  infer: (g, node) => [{ dtype: g.dtype(node.inputs[1]), shape: node.inputs.map((i) => g.shape(i)).reduce((a, b) => broadcastShapes(a, b)) }],
  grad: (g, node, [dy], needs) => {
    const [cond, a, b] = node.inputs;
    return [
      undefined,
      needs[1] ? unbroadcast(g, g.op('Where', [cond, dy!, g.scalar(0)]), g.shape(a)) : undefined,
      needs[2] ? unbroadcast(g, g.op('Where', [cond, g.scalar(0), dy!]), g.shape(b)) : undefined,
    ];
  },
  gradCases: [
    {
      label: 'where',
      build: (g, [a, b]) => g.op('Where', [g.op('Greater', [a, b]), a, b]),
      inputShapes: [
        [3, 4],
        [3, 4],
      ],
    },
  ],
});

const CAST_TYPES: Record<number, DType> = { 1: 'float32', 2: 'uint8', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };
const ONNX_TYPE_NAMES: Record<number, string> = { 3: 'int8', 4: 'uint16', 5: 'int16', 8: 'string', 10: 'float16', 12: 'uint32', 13: 'uint64', 16: 'bfloat16' };

registerOp({
  type: 'Cast',
  infer: (g, node) => {
    const to = node.attrs.to;
    const dtype = typeof to === 'number' ? CAST_TYPES[to] : undefined;
    if (!dtype) {
      throw new GraphError(
        'E_UNSUPPORTED_OP',
        `a cast to ${typeof to === 'number' ? (ONNX_TYPE_NAMES[to] ?? `ONNX type ${to}`) : 'an unspecified type'}; headstart's graphs use float32, float64, int32, int64, uint8 and bool`,
        {
          hint: 'export the model in float32',
        },
      );
    }
    return [{ dtype, shape: [...g.shape(node.inputs[0])] }];
  },
});

registerOp({ type: 'Pow', infer: broadcastInfer });
