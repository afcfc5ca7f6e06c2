import { GraphError } from '../../errors.js';
import type { HostTensor } from '../../tensor.js';
import type { Dim, Graph, Node } from '../graph.js';
import { broadcastShapes, intAttr, intsAttr, normAxis, registerOp, staticShape, stringAttr } from '../op-registry.js';
import { unbroadcast } from './unbroadcast.js';

/** Shape ops: reshaping, transposing, joining, slicing, padding. */

function product(dims: readonly Dim[]): Dim {
  return dims.some((d) => d < 0) ? -1 : dims.reduce((a, b) => a * b, 1);
}

registerOp({
  type: 'Flatten',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    // axis is in [-r, r]: a negative axis counts from the end of the input's rank, not rank + 1.
    const raw = intAttr(node, 'axis', 1);
    const axis = raw < 0 ? raw + s.length : raw;
    if (axis < 0 || axis > s.length) throw new GraphError('E_BAD_GRAPH', `axis ${raw} is out of range for rank ${s.length} (expected -${s.length}..${s.length})`, { hint: 'fix the exporter' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: [product(s.slice(0, axis)), product(s.slice(axis))] }];
  },
  grad: (g, node, [dy]) => [g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))])],
  gradCases: [{ label: 'flatten', build: (g, [a]) => g.op('Flatten', [a], { axis: 1 }), inputShapes: [[2, 3, 2, 2]] }],
});

registerOp({
  type: 'Reshape',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    // 0 copies the input's dimension, unless allowzero=1 (opset 14), where it means size 0.
    const allowZero = intAttr(node, 'allowzero', 0) === 1;
    const target = g.constantInts(node.inputs[1], 'shape').map((d, i) => (d === 0 && !allowZero ? s[i] : d));
    const known = target.filter((d) => d !== -1);
    const total = product(s);
    if (target.filter((d) => d === -1).length > 1) throw new GraphError('E_BAD_GRAPH', 'at most one -1 in a Reshape target', { hint: 'give every other dimension explicitly' });
    const out = target.map((d) => {
      if (d !== -1) return d;
      if (total < 0 || known.some((k) => k < 0)) return -1;
      return total / product(known);
    });
    if (total >= 0 && !out.includes(-1) && product(out) !== total)
      throw new GraphError('E_SHAPE_MISMATCH', `cannot reshape [${s}] to [${target}]`, { hint: 'the target must hold as many values as the input' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: out }];
  },
  grad: (g, node, [dy], needs) => [needs[0] ? g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))]) : undefined, undefined],
  gradCases: [{ label: 'reshape', build: (g, [a]) => g.op('Reshape', [a, g.ints([3, -1])]), inputShapes: [[2, 3, 2]] }],
});

registerOp({
  type: 'Transpose',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const perm = intsAttr(
      node,
      'perm',
      s.map((_, i) => s.length - 1 - i),
    );
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
  gradCases: [
    {
      label: 'concat',
      build: (g, [a, b]) => g.op('Concat', [a, b], { axis: 1 }),
      inputShapes: [
        [2, 3],
        [2, 2],
      ],
    },
  ],
});

registerOp({
  type: 'Split',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const axis = normAxis(intAttr(node, 'axis', 0), s.length);
    // Without a `split` input, equal parts, one per output (opset 13..17).
    let sizes: number[];
    if (node.inputs[1]) sizes = g.constantInts(node.inputs[1], 'split');
    else {
      const parts = node.outputs.length;
      if (s[axis] >= 0 && s[axis] % parts !== 0)
        throw new GraphError('E_SHAPE_MISMATCH', `axis ${axis} of size ${s[axis]} does not split into ${parts} equal parts`, { hint: 'give a `split` input with the part sizes' });
      sizes = new Array<number>(parts).fill(s[axis] < 0 ? -1 : s[axis] / parts);
    }
    if (sizes.length !== node.outputs.length)
      throw new GraphError('E_BAD_GRAPH', `split [${sizes}] gives ${sizes.length} parts, but the node has ${node.outputs.length} outputs`, { hint: 'one output per part' });
    if (s[axis] >= 0 && sizes.reduce((a, b) => a + b, 0) !== s[axis])
      throw new GraphError('E_SHAPE_MISMATCH', `split [${sizes}] does not add up to axis ${axis}'s size ${s[axis]}`, { hint: 'fix the split sizes' });
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

function sliceParams(g: Graph, node: Node) {
  const s = g.shape(node.inputs[0]);
  const starts = g.constantInts(node.inputs[1], 'starts');
  const ends = g.constantInts(node.inputs[2], 'ends');
  const axes = node.inputs[3] ? g.constantInts(node.inputs[3], 'axes').map((a) => normAxis(a, s.length)) : starts.map((_, i) => i);
  const steps = node.inputs[4] ? g.constantInts(node.inputs[4], 'steps') : starts.map(() => 1);
  if (steps.some((st) => st === 0)) throw new GraphError('E_BAD_GRAPH', 'a Slice step is 0', { hint: 'steps must be non-zero' });
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
    if (steps.some((st) => st !== 1)) throw new GraphError('E_NO_GRADIENT', `Slice node \`${node.name}\`: the gradient rule is for step 1 only`, { hint: 'freeze the layers before it' });
    const outShape = staticShape(g, node.outputs[0]);
    const pads = new Array<number>(2 * s.length).fill(0);
    axes.forEach((axis, k) => {
      const start = Math.min(Math.max(starts[k] < 0 ? starts[k] + s[axis] : starts[k], 0), s[axis]);
      pads[axis] = start;
      pads[s.length + axis] = s[axis] - start - outShape[axis];
    });
    return [g.op('Pad', [dy!, g.ints(pads)])];
  },
  gradCases: [{ label: 'slice', build: (g, [a]) => g.op('Slice', [a, g.ints([1]), g.ints([3]), g.ints([1])]), inputShapes: [[2, 4]] }],
});

registerOp({
  type: 'Pad',
  infer: (g, node) => {
    const s = g.shape(node.inputs[0]);
    const pads = g.constantInts(node.inputs[1], 'pads');
    if (pads.length !== 2 * s.length) throw new GraphError('E_BAD_GRAPH', `pads [${pads}] need ${2 * s.length} values for rank ${s.length}`, { hint: 'begin and end of every axis' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: s.map((d, i) => (d < 0 ? -1 : d + pads[i] + pads[i + s.length])) }];
  },
  grad: (g, node, [dy]) => {
    const s = staticShape(g, node.inputs[0]);
    const pads = g.constantInts(node.inputs[1]);
    const mode = node.attrs.mode ?? 'constant';
    if (mode !== 'constant') throw new GraphError('E_NO_GRADIENT', `Pad node \`${node.name}\`: the gradient rule is for constant mode only`, { hint: 'freeze the layers before it' });
    const axes = s.map((_, i) => i);
    return [g.op('Slice', [dy!, g.ints(axes.map((i) => pads[i])), g.ints(axes.map((i) => pads[i] + s[i])), g.ints(axes)])];
  },
  gradCases: [{ label: 'pad', build: (g, [a]) => g.op('Pad', [a, g.ints([0, 0, 1, 2, 0, 0, 2, 1])]), inputShapes: [[1, 2, 2, 2]] }],
});

registerOp({
  type: 'Unsqueeze',
  infer: (g, node) => {
    const s = [...g.shape(node.inputs[0])];
    const raw = g.constantInts(node.inputs[1], 'axes');
    const axes = raw.map((a) => normAxis(a, s.length + raw.length)).sort((a, b) => a - b);
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
    const axes = node.inputs[1] ? g.constantInts(node.inputs[1], 'axes').map((a) => normAxis(a, s.length)) : s.flatMap((d, i) => (d === 1 ? [i] : []));
    if (!node.inputs[1] && s.some((d) => d < 0)) throw new GraphError('E_UNSUPPORTED_OP', `Squeeze without axes on an input with dynamic dimensions [${s}]`, { hint: 'give the axes input' });
    for (const a of axes) if (s[a] > 1) throw new GraphError('E_SHAPE_MISMATCH', `cannot squeeze axis ${a} of size ${s[a]}`, { hint: 'only axes of size 1 can be squeezed' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: s.filter((_, i) => !axes.includes(i)) }];
  },
  grad: (g, node, [dy]) => [g.op('Reshape', [dy!, g.ints(staticShape(g, node.inputs[0]))]), undefined],
  gradCases: [{ label: 'squeeze', build: (g, [a]) => g.op('Squeeze', [a, g.ints([2, 3])]), inputShapes: [[2, 3, 1, 1]] }],
});

registerOp({
  type: 'Expand',
  infer: (g, node) => [{ dtype: g.dtype(node.inputs[0]), shape: broadcastShapes(g.shape(node.inputs[0]), g.constantInts(node.inputs[1], 'shape')) }],
  grad: (g, node, [dy]) => [unbroadcast(g, dy!, g.shape(node.inputs[0])), undefined],
  gradCases: [{ label: 'expand', build: (g, [a]) => g.op('Expand', [a, g.ints([2, 3, 4])]), inputShapes: [[3, 1]] }],
});

/** Shape, with the start/end attributes of opset 15 (negative counts from the end, clamped to the rank). */
registerOp({
  type: 'Shape',
  infer: (g, node) => {
    const rank = g.shape(node.inputs[0]).length;
    const clampAxis = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
    const start = clampAxis(intAttr(node, 'start', 0));
    const end = clampAxis(intAttr(node, 'end', rank));
    return [{ dtype: 'int64', shape: [Math.max(0, end - start)] }];
  },
});

registerOp({
  type: 'ConstantOfShape',
  infer: (g, node) => {
    const value = node.attrs.value as HostTensor | undefined;
    return [{ dtype: value?.dtype ?? 'float32', shape: g.constantInts(node.inputs[0], 'shape') }];
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

/** DepthToSpace (both modes); its adjoint is the inverse Reshape/Transpose/Reshape. */
registerOp({
  type: 'DepthToSpace',
  infer: (g, node) => {
    const [n, c, h, w] = g.shape(node.inputs[0]);
    const b = intAttr(node, 'blocksize', 0);
    if (b < 1 || (c >= 0 && c % (b * b) !== 0))
      throw new GraphError('E_SHAPE_MISMATCH', `DepthToSpace node \`${node.name}\`: ${c} channels do not split into blocks of ${b}x${b}`, { hint: 'channels must be a multiple of blocksize squared' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: [n, c < 0 ? -1 : c / (b * b), h < 0 ? -1 : h * b, w < 0 ? -1 : w * b] }];
  },
  grad: (g, node, [dy]) => {
    const [n, c, h, w] = staticShape(g, node.inputs[0]);
    const b = intAttr(node, 'blocksize', 0);
    const crd = stringAttr(node, 'mode', 'DCR') === 'CRD';
    const split = g.op('Reshape', [dy!, g.ints([n, c / (b * b), h, b, w, b])]);
    const back = g.op('Transpose', [split], { perm: crd ? [0, 1, 3, 5, 2, 4] : [0, 3, 5, 1, 2, 4] });
    return [g.op('Reshape', [back, g.ints([n, c, h, w])])];
  },
  gradCases: [
    { label: 'DCR blocksize 2', build: (g, [a]) => g.op('DepthToSpace', [a], { blocksize: 2 }), inputShapes: [[2, 8, 2, 3]] },
    { label: 'CRD blocksize 2', build: (g, [a]) => g.op('DepthToSpace', [a], { blocksize: 2, mode: 'CRD' }), inputShapes: [[1, 8, 3, 2]] },
  ],
});
