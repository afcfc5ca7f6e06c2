import type { Graph } from '../graph.js';

/**
 * Per-channel sum of an NCHW tensor -> [C], in two steps: along each row (W), then over N and H.
 * ONNX Runtime's one-step reduction over [0, 2, 3] accumulates sequentially in float32 and lost
 * 5.7e-4 (relative) on 8x112x112 values per channel (a 224-px stem); the two-step form keeps
 * the error near 1e-6, like torch's (issue 9; test/batchnorm-precision.test.ts). The first step's
 * per-image partial sums are marked `batchReduction`: they belong to a reduction over the batch,
 * so --cache-frozen's cut must not take them for cacheable per-image activations.
 */
export function sumOverNHW(g: Graph, t: string, op: 'ReduceSum' | 'ReduceSumSquare' = 'ReduceSum'): string {
  const rows = op === 'ReduceSum' ? g.op('ReduceSum', [t, g.ints([3])], { keepdims: 0 }) : g.op('ReduceSumSquare', [t], { axes: [3], keepdims: 0 });
  g.notes.set(g.nodes[g.nodes.length - 1].name, { batchReduction: true });
  return g.op('ReduceSum', [rows, g.ints([0, 2])], { keepdims: 0 });
}
