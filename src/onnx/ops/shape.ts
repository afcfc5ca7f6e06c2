import { GraphError } from '../../errors.js';
import type { Dim } from '../graph.js';
import { broadcastShapes, intAttr, intsAttr, normAxis, registerOp, staticShape } from '../op-registry.js';
import { unbroadcast } from './unbroadcast.js';

/** Shape ops: reshaping, transposing, joining, slicing, padding. */

function product(dims: readonly Dim[]): Dim {
  return dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1);
}

registerOp({
  type: 'Flatten',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const axis = normAxis(intAttr(node, 'axis', 1), s.length + 1);
    return [{ dtype: g.dtype(node.inputs[0]), shape: [product(s.slice(0, axis)), product(s.slice(axis))] }];
  },
  grad: (g, node, [dy]) => [g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))])],
  gradCases: [{ label: 'flatten', build: (g, [a]) => g.op('Flatten', [a], { axis: 1 }), inputShapes: [[2, 3, 2, 2]] }],
});

registerOp({
  type: 'Reshape',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const target = g.constantInts(node.inputs[1]).map((d, i) => (d === 0 ? s[i] : d));
    const known = target.filter((d) => d !== -1);
    const total = product(s);
    if (target.filter((d) => d === -1).length > 1) throw new GraphError('E_BAD_GRAPH', 'at most one -1 in a Reshape target');
    const out = target.map((d) => {
      if (d !== -1) return d;
      if (total < 0 || known.some((k) => k < 0)) return -1;
      return total / product(known);
    });
    if (total >= 0 && !out.includes(-1) && product(out) !== total) throw new GraphError('E_SHAPE_MISMATCH', `cannot reshape [${s}] to [${target}]`);
    return [{ dtype: g.dtype(node.inputs[0]), shape: out }];
  },
  grad: (g, node, [dy], needs) => [needs[0] ? g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))]) : undefined, undefined],
  gradCases: [{ label: 'reshape', build: (g, [a]) => g.op('Reshape', [a, g.ints([3, -1])]), inputShapes: [[2, 3, 2]] }],
});

registerOp({
  type: 'Transpose',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const perm = intsAttr(node, 'perm', s.map((_, i) => s.length - 1 - i));
    return [{ dtype: g.dtype(node.inputs[0]), shape: perm.map((p) => s[p]) }];
  },
  grad: (g, node, [dy]) => {
    const rank = g.shape(node.inputs[0]).length;
    const perm = intsAttr(node, 'perm', [...Array(rank).keys()].reverse());
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    return [g.op('Transpose', [dy!], { perm: inverse })];
  },
  gradCases: [{ label: 'transpose', build: (g, [a]) => g.op('Transpose', [a], { perm: [2, 0, 1] }), inputShapes: [[2, 3, 4]] }],
});

registerOp({
  type: 'Concat',
  infer: (g, node) => {
    const shapes = node.inputs.map((i) => g.shape(i));
    const axis = normAxis(intAttr(node, 'axis', 0), shapes[0].length);
    const out = [...shapes[0]];
    out[axis] = shapes.some((s) => s[axis] < 0) ? -1 : shapes.reduce((a, s) => a + s[axis], 0);
    return [{ dtype: g.dtype(node.inputs[0]), shape: out }];
  },
  grad: (g, node, [dy]) => {
    const shapes = node.inputs.map((i) => staticShape(g, i));
    const axis = normAxis(intAttr(node, 'axis', 0), shapes[0].length);
    const parts = g.node('Split', [dy!, g.ints(shapes.map((s) => s[axis]))], { axis }, { outputs: node.inputs.length });
    return parts;
  },
  gradCases: [{ label: 'concat', build: (g, [a, b]) => g.op('Concat', [a, b], { axis: 1 }), inputShapes: [[2, 3], [2, 2]] }],
});

registerOp({
  type: 'Split',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const axis = normAxis(intAttr(node, 'axis', 0), s.length);
    const sizes = g.constantInts(node.inputs[1]);
    return sizes.map((n) => {
      const out = [...s];
      out[axis] = n;
      return { dtype: g.dtype(node.inputs[0]), shape: out };
    });
  },
  grad: (g, node, dys) => {
    const parts = node.outputs.map((o, i) => dys[i] ?? g.op('ConstantOfShape', [g.ints(staticShape(g, o))], { value: { dtype: 'float32', shape: [1], data: new Float32Array(1) } }));
    return [g.op('Concat', parts, { axis: intAttr(node, 'axis', 0) }), undefined];
  },
  gradCases: [
    {
      label: 'split, one part unused',
      build: (g, [a]) => {
        const [p0, , p2] = g.node('Split', [a, g.ints([1, 2, 1])], { axis: 1 }, { outputs: 3 });
        return g.op('Mul', [p0, p2]);
      },
      inputShapes: [[2, 4]],
    },
  ],
});

function sliceParams(g: import('../graph.js').Graph, node: import('../graph.js').Node) {
  const s = g.shape(node.inputs[0]);
  const starts = g.constantInts(node.inputs[1]);
  const ends = g.constantInts(node.inputs[2]);
  const axes = node.inputs[3] ? g.constantInts(node.inputs[3]).map((a) => normAxis(a, s.length)) : starts.map((_, i) => i);
  const steps = node.inputs[4] ? g.constantInts(node.inputs[4]) : starts.map(() => 1);
  return { s, starts, ends, axes, steps };
}

registerOp({
  type: 'Slice',
  infer: (g, node) => {
    const { s, starts, ends, axes, steps } = sliceParams(g, node);
    const out = [...s];
    axes.forEach((axis, k) => {
      const dim = s[axis];
      if (dim < 0) {
        out[axis] = -1;
        return;
      }
      const step = steps[k];
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      let start = starts[k] < 0 ? starts[k] + dim : starts[k];
      let end = ends[k] < 0 ? ends[k] + dim : ends[k];
      if (step > 0) {
        start = clamp(start, 0, dim);
        end = clamp(end, 0, dim);
        out[axis] = Math.max(0, Math.ceil((end - start) / step));
      } else {
        start = clamp(start, 0, dim - 1);
        end = clamp(end, -1, dim - 1);
        out[axis] = Math.max(0, Math.ceil((start - end) / -step));
      }
    });
    return [{ dtype: g.dtype(node.inputs[0]), shape: out }];
  },
  // Step-1 slices only: the adjoint is zero padding back to the input's shape.
  grad: (g, node, [dy]) => {
    const { s, starts, axes, steps } = sliceParams(g, node);
    if (steps.some((st) => st !== 1)) throw new GraphError('E_NO_GRADIENT', `Slice \`${node.name}\`: gradient only for step 1`);
    const outShape = staticShape(g, node.outputs[0]);
    const pads = new Array<number>(2 * s.length).fill(0);
    axes.forEach((axis, k) => {
      const start = Math.min(Math.max(starts[k] < 0 ? starts[k] + s[axis] : starts[k], 0), s[axis]);
      pads[axis] = start;
      pads[s.length + axis] = s[axis] - start - outShape[axis];
    });
    return [g.op('Pad', [dy!, g.ints(pads)])];
  },
  gradCases: [
    { label: 'slice', build: (g, [a]) => g.op('Slice', [a, g.ints([1]), g.ints([3]), g.ints([1])]), inputShapes: [[2, 4]] },
  ],
});

registerOp({
  type: 'Pad',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const pads = g.constantInts(node.inputs[1]);
    return [{ dtype: g.dtype(node.inputs[0]), shape: s.map((d, i) => (d < 0 ? -1 : d + pads[i] + pads[i + s.length])) }];
  },
  grad: (g, node, [dy]) => {
    const s = staticShape(g, node.inputs[0]);
    const pads = g.constantInts(node.inputs[1]);
    const mode = node.attrs.mode ?? 'constant';
    if (mode !== 'constant') throw new GraphError('E_NO_GRADIENT', `Pad \`${node.name}\`: gradient only for constant mode`);
    const axes = s.map((_, i) => i);
    return [g.op('Slice', [dy!, g.ints(axes.map((i) => pads[i])), g.ints(axes.map((i) => pads[i] + s[i])), g.ints(axes)])];
  },
  gradCases: [{ label: 'pad', build: (g, [a]) => g.op('Pad', [a, g.ints([0, 0, 1, 2, 0, 0, 2, 1])]), inputShapes: [[1, 2, 2, 2]] }],
});

registerOp({
  type: 'Unsqueeze',
  infer: (g, node) => {
    const s = [...g.shape(node.inputs[0])];
    const axes = g.constantInts(node.inputs[1]).map((a) => normAxis(a, s.length + g.constantInts(node.inputs[1]).length)).sort((a, b) => a - b);
    for (const a of axes) s.splice(a, 0, 1);
    return [{ dtype: g.dtype(node.inputs[0]), shape: s }];
  },
  grad: (g, node, [dy]) => [g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))]), undefined],
  gradCases: [{ label: 'unsqueeze', build: (g, [a]) => g.op('Unsqueeze', [a, g.ints([1])]), inputShapes: [[2, 3]] }],
});

registerOp({
  type: 'Squeeze',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const axes = node.inputs[1] ? g.constantInts(node.inputs[1]).map((a) => normAxis(a, s.length)) : s.flatMap((d, i) => (d === 1 ? [i] : []));
    return [{ dtype: g.dtype(node.inputs[0]), shape: s.filter((_, i) => !axes.includes(i)) }];
  },
  grad: (g, node, [dy]) => [g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))]), undefined],
  gradCases: [{ label: 'squeeze', build: (g, [a]) => g.op('Squeeze', [a, g.ints([2, 3])]), inputShapes: [[2, 3, 1, 1]] }],
});

registerOp({
  type: 'Expand',
  infer: (g, node) => [{ dtype: g.dtype(node.inputs[0]), shape: broadcastShapes(g.shape(node.inputs[0]), g.constantInts(node.inputs[1])) }],
  grad: (g, node, [dy]) => [unbroadcast(g, dy!, g.shape(node.inputs[0])), undefined],
  gradCases: [{ label: 'expand', build: (g, [a]) => g.op('Expand', [a, g.ints([2, 3, 4])]), inputShapes: [[3, 1]] }],
});

registerOp({ type: 'Shape', infer: (g, node) => [{ dtype: 'int64', shape: [g.shape(node.inputs[0]).length] }] });

registerOp({
  type: 'ConstantOfShape',
  infer: (g, node) => {
    const value = node.attrs.value as import('../../tensor.js').HostTensor | undefined;
    return [{ dtype: value?.dtype ?? 'float32', shape: g.constantInts(node.inputs[0]) }];
  },
});

registerOp({
  type: 'ScatterElements',
  infer: (g, node) => [{ ...g.info(node.inputs[0]) }],
});

registerOp({
  type: 'Gather',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const axis = normAxis(intAttr(node, 'axis', 0), s.length);
    const idx = g.shape(node.inputs[1]);
    return [{ dtype: g.dtype(node.inputs[0]), shape: [...s.slice(0, axis), ...idx, ...s.slice(axis + 1)] }];
  },
});
