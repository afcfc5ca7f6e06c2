import type { Graph, Node } from '../graph.js';
import { intAttr, intsAttr, normAxis, registerOp, staticShape } from '../op-registry.js';

/** Reductions. ReduceSum takes axes as an input (opset 13), ReduceMean as an attribute (opset 17). */

function reducedShape(shape: number[], axes: number[], keepdims: boolean): number[] {
  return keepdims ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

/** The reduced axes; none given reduces all of them, unless ReduceSum's noop_with_empty_axes=1 (then none). */
function axesOf(g: Graph, node: Node, rank: number): number[] {
  const raw = node.op === 'ReduceSum' ? (node.inputs[1] ? g.constantInts(node.inputs[1], 'axes') : []) : intsAttr(node, 'axes', []);
  if (raw.length === 0 && node.op === 'ReduceSum' && intAttr(node, 'noop_with_empty_axes', 0) === 1) return [];
  return (raw.length === 0 ? [...Array(rank).keys()] : raw).map((a) => normAxis(a, rank));
}

/** Broadcasts a reduced gradient back over the reduced axes. */
function expandBack(g: Graph, node: Node, dy: string, scale: number): string {
  const shape = staticShape(g, node.inputs[0]);
  const axes = axesOf(g, node, shape.length);
  const kept = g.op('Reshape', [dy, g.ints(reducedShape(shape, axes, true))]);
  const scaled = scale === 1 ? kept : g.op('Mul', [kept, g.scalar(scale)]);
  return g.op('Expand', [scaled, g.ints(shape)]);
}

for (const type of ['ReduceSum', 'ReduceMean'] as const) {
  registerOp({
    type,
    infer: (g, node) => {
      const shape = g.shape(node.inputs[0]);
      return [{ dtype: g.dtype(node.inputs[0]), shape: reducedShape(shape, axesOf(g, node, shape.length), intAttr(node, 'keepdims', 1) === 1) }];
    },
    grad: (g, node, [dy]) => {
      const shape = staticShape(g, node.inputs[0]);
      const count = axesOf(g, node, shape.length).reduce((n, a) => n * shape[a], 1);
      return [expandBack(g, node, dy!, type === 'ReduceMean' ? 1 / count : 1), undefined];
    },
    gradCases: [
      {
        label: 'axes 0,2 keepdims 0',
        build: (g, [a]) => (type === 'ReduceSum' ? g.op(type, [a, g.ints([0, 2])], { keepdims: 0 }) : g.op(type, [a], { axes: [0, 2], keepdims: 0 })),
        inputShapes: [[2, 3, 4]],
      },
      {
        label: 'all axes',
        build: (g, [a]) => g.op(type, [a], { keepdims: 1 }),
        inputShapes: [[2, 3]],
      },
    ],
  });
}

registerOp({
  type: 'ReduceSumSquare',
  infer: (g, node) => {
    const shape = g.shape(node.inputs[0]);
    return [{ dtype: g.dtype(node.inputs[0]), shape: reducedShape(shape, axesOf(g, node, shape.length), intAttr(node, 'keepdims', 1) === 1) }];
  },
  grad: (g, node, [dy]) => [g.op('Mul', [expandBack(g, node, dy!, 2), node.inputs[0]])],
  gradCases: [{ label: 'axes 1', build: (g, [a]) => g.op('ReduceSumSquare', [a], { axes: [1], keepdims: 0 }), inputShapes: [[2, 3, 2]] }],
});

registerOp({
  type: 'ReduceMax',
  infer: (g, node) => {
    const shape = g.shape(node.inputs[0]);
    return [{ dtype: g.dtype(node.inputs[0]), shape: reducedShape(shape, axesOf(g, node, shape.length), intAttr(node, 'keepdims', 1) === 1) }];
  },
});
