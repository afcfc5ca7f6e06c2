import { GraphError } from '../../errors.js';
import { broadcastShapes, floatAttr, intAttr, registerOp } from '../op-registry.js';
import { unbroadcast } from './unbroadcast.js';

/** MatMul (rank >= 2, batched with broadcasting) and Gemm. */

registerOp({
  type: 'MatMul',
  infer: (g, node) => {
    const a = g.shape(node.inputs[0]);
    const b = g.shape(node.inputs[1]);
    if (a.length < 2 || b.length < 2) throw new GraphError('E_UNSUPPORTED_OP', 'MatMul needs rank >= 2 inputs', { hint: 'reshape 1-D operands to 2-D first' });
    const k1 = a[a.length - 1];
    const k2 = b[b.length - 2];
    if (k1 >= 0 && k2 >= 0 && k1 !== k2) throw new GraphError('E_SHAPE_MISMATCH', `MatMul inner dimensions differ: ${k1} vs ${k2}`, { hint: 'the last axis of A must equal the second-to-last of B' });
    const batch = broadcastShapes(a.slice(0, -2), b.slice(0, -2));
    return [{ dtype: g.dtype(node.inputs[0]), shape: [...batch, a[a.length - 2], b[b.length - 1]] }];
  },
  grad: (g, node, [dy], needs) => {
    const [a, b] = node.inputs;
    const swapLast = (x: string) => {
      const r = g.shape(x).length;
      const perm = [...Array(r).keys()];
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      return g.op('Transpose', [x], { perm });
    };
    return [needs[0] ? unbroadcast(g, g.op('MatMul', [dy!, swapLast(b)]), g.shape(a)) : undefined, needs[1] ? unbroadcast(g, g.op('MatMul', [swapLast(a), dy!]), g.shape(b)) : undefined];
  },
  gradCases: [
    {
      label: '2d',
      build: (g, [a, b]) => g.op('MatMul', [a, b]),
      inputShapes: [
        [3, 4],
        [4, 2],
      ],
    },
    {
      label: 'batched broadcast',
      build: (g, [a, b]) => g.op('MatMul', [a, b]),
      inputShapes: [
        [2, 3, 4],
        [4, 2],
      ],
    },
  ],
});

registerOp({
  type: 'Gemm',
  infer: (g, node) => {
    const a = g.shape(node.inputs[0]);
    const b = g.shape(node.inputs[1]);
    const m = intAttr(node, 'transA', 0) ? a[1] : a[0];
    const n = intAttr(node, 'transB', 0) ? b[0] : b[1];
    return [{ dtype: g.dtype(node.inputs[0]), shape: [m, n] }];
  },
  grad: (g, node, [dy], needs) => {
    const [a, b, c] = node.inputs;
    const alpha = floatAttr(node, 'alpha', 1);
    const beta = floatAttr(node, 'beta', 1);
    const tA = intAttr(node, 'transA', 0);
    const tB = intAttr(node, 'transB', 0);
    const gemm = (x: string, y: string, transA: number, transB: number) => g.op('Gemm', [x, y], { alpha: { float: alpha }, transA, transB });
    // dA' = alpha dY B'^T and dB' = alpha A'^T dY, transposed back where the input was.
    const dA = needs[0] ? (tA ? gemm(b, dy!, tB, 1) : gemm(dy!, b, 0, tB ? 0 : 1)) : undefined;
    const dB = needs[1] ? (tB ? gemm(dy!, a, 1, tA) : gemm(a, dy!, tA ? 0 : 1, 0)) : undefined;
    let dC: string | undefined;
    if (c && needs[2]) {
      const scaled = beta === 1 ? dy! : g.op('Mul', [dy!, g.scalar(beta)]);
      dC = unbroadcast(g, scaled, g.shape(c));
    }
    return [dA, dB, dC];
  },
  gradCases: [
    { label: 'linear layer (transB)', build: (g, [x, w, b]) => g.op('Gemm', [x, w, b], { transB: 1 }), inputShapes: [[3, 4], [2, 4], [2]] },
    {
      label: 'transA alpha beta',
      build: (g, [x, w, b]) => g.op('Gemm', [x, w, b], { transA: 1, alpha: { float: 0.5 }, beta: { float: 2 } }),
      inputShapes: [
        [4, 3],
        [4, 2],
        [3, 2],
      ],
    },
    {
      label: 'both transposed',
      build: (g, [x, w]) => g.op('Gemm', [x, w], { transA: 1, transB: 1 }),
      inputShapes: [
        [4, 3],
        [2, 4],
      ],
    },
  ],
});
