import { GraphError } from '../../errors.js';
import type { Graph, Node } from '../graph.js';
import { intAttr, intsAttr, registerOp, staticShape } from '../op-registry.js';
import { slidingWindow } from './spatial-window.js';

/** MaxPool, AveragePool and GlobalAveragePool: inference over any spatial rank; gradients for 2-D (NCHW). */

function poolInfer(g: Graph, node: Node) {
  const x = g.shape(node.inputs[0]);
  if (x.length < 3) throw new GraphError('E_SHAPE_MISMATCH', `${node.op} needs an [N, C, spatial...] input, found rank ${x.length}`, { hint: 'check the input layout (NCHW)' });
  if (!Array.isArray(node.attrs.kernel_shape)) throw new GraphError('E_BAD_GRAPH', `${node.op} needs a kernel_shape attribute`, { hint: 'kernel_shape lists one size per spatial axis' });
  return [x[0], x[1], ...slidingWindow(node, x.slice(2)).out];
}

function require2d(g: Graph, node: Node): void {
  const rank = g.shape(node.inputs[0]).length;
  if (rank !== 4) {
    throw new GraphError('E_NO_GRADIENT', `${node.op} node \`${node.name}\` is ${rank - 2}-D; headstart's gradient rule is for 2-D (image) pooling`, {
      hint: 'freeze the layers before it, or train a 2-D model',
    });
  }
}

registerOp({
  type: 'MaxPool',
  infer: (g, node) => {
    const shape = poolInfer(g, node);
    return [
      { dtype: g.dtype(node.inputs[0]), shape },
      { dtype: 'int64', shape },
    ];
  },
  // The forward node gains its Indices output only when a gradient flows through it.
  grad: (g, node, [dy]) => {
    require2d(g, node);
    if (intAttr(node, 'storage_order', 0) !== 0)
      throw new GraphError('E_NO_GRADIENT', `MaxPool node \`${node.name}\`: no gradient rule with storage_order=1 (column-major indices)`, { hint: 'freeze the layers before it' });
    if (node.outputs.length < 2) {
      const name = g.uniqueName(`${node.name}_indices`);
      g.values.set(name, { name, dtype: 'int64', shape: [...g.shape(node.outputs[0])] });
      node.outputs.push(name);
    }
    const xShape = staticShape(g, node.inputs[0]);
    const total = xShape.reduce((a, b) => a * b, 1);
    const zeros = g.op('ConstantOfShape', [g.ints([total])], { value: { dtype: 'float32', shape: [1], data: new Float32Array(1) } });
    const flatIdx = g.op('Reshape', [node.outputs[1], g.ints([-1])]);
    const flatDy = g.op('Reshape', [dy!, g.ints([-1])]);
    const scattered = g.op('ScatterElements', [zeros, flatIdx, flatDy], { axis: 0, reduction: 'add' });
    return [g.op('Reshape', [scattered, g.ints(xShape)])];
  },
  gradCases: [
    { label: '3x3 stride 2 pad 1 (resnet)', build: (g, [x]) => g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }), inputShapes: [[2, 2, 6, 6]] },
    { label: '2x2 stride 2', build: (g, [x]) => g.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] }), inputShapes: [[1, 3, 4, 4]] },
  ],
});

registerOp({
  type: 'AveragePool',
  infer: (g, node) => [{ dtype: g.dtype(node.inputs[0]), shape: poolInfer(g, node) }],
  // The adjoint of a box filter is a transposed depthwise conv with the same box.
  grad: (g, node, [dy]) => {
    require2d(g, node);
    const xShape = staticShape(g, node.inputs[0]);
    const yShape = staticShape(g, node.outputs[0]);
    const k = intsAttr(node, 'kernel_shape', []);
    const s = intsAttr(node, 'strides', [1, 1]);
    const p = intsAttr(node, 'pads', [0, 0, 0, 0]);
    if (p.some((v) => v !== 0) && intAttr(node, 'count_include_pad', 0) !== 1) {
      throw new GraphError('E_NO_GRADIENT', `AveragePool node \`${node.name}\`: the gradient rule needs count_include_pad=1 or no padding`, { hint: 'freeze the layers before it' });
    }
    if (intAttr(node, 'ceil_mode', 0) === 1) throw new GraphError('E_NO_GRADIENT', `AveragePool node \`${node.name}\`: no gradient rule with ceil_mode=1`, { hint: 'freeze the layers before it' });
    const c = xShape[1];
    const box = g.floats(new Float32Array(c * k[0] * k[1]).fill(1 / (k[0] * k[1])), [c, 1, k[0], k[1]]);
    const outputPadding = [0, 1].map((i) => xShape[2 + i] - (s[i] * (yShape[2 + i] - 1) + k[i] - p[i] - p[i + 2]));
    return [g.op('ConvTranspose', [dy!, box], { strides: s, pads: p, group: c, kernel_shape: k, output_padding: outputPadding })];
  },
  gradCases: [
    { label: '2x2 stride 2', build: (g, [x]) => g.op('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2] }), inputShapes: [[1, 2, 4, 4]] },
    { label: '3x3 stride 1 pad 1 include pad', build: (g, [x]) => g.op('AveragePool', [x], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], count_include_pad: 1 }), inputShapes: [[1, 2, 4, 4]] },
  ],
});

registerOp({
  type: 'GlobalAveragePool',
  infer: (g, node) => {
    const x = g.shape(node.inputs[0]);
    if (x.length < 3) throw new GraphError('E_SHAPE_MISMATCH', `GlobalAveragePool needs an [N, C, spatial...] input, found rank ${x.length}`, { hint: 'check the input layout (NCHW)' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: [x[0], x[1], ...x.slice(2).map(() => 1)] }];
  },
  grad: (g, node, [dy]) => {
    require2d(g, node);
    const xShape = staticShape(g, node.inputs[0]);
    const scaled = g.op('Mul', [dy!, g.scalar(1 / (xShape[2] * xShape[3]))]);
    return [g.op('Expand', [scaled, g.ints(xShape)])];
  },
  gradCases: [{ label: 'global average', build: (g, [x]) => g.op('GlobalAveragePool', [x]), inputShapes: [[2, 3, 3, 2]] }],
});
