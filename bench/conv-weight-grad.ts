/**
 * Compares formulations of the stride-1 conv weight gradient (what convWeightGrad emits now, per-tap Gemm on 4-D slices,
 * shifted flat slices) on one layer, alternating runs (a development tool, not a benchmark).
 * SHAPE=16,64,56 node --import tsx bench/conv-weight-grad.ts
 */
import { Graph } from '../src/onnx/graph.js';
import '../src/onnx/ops/index.js';
import { convWeightGrad } from '../src/onnx/ops/conv.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Session } from '../src/engine/session.js';
const [N, C, H] = (process.env.SHAPE ?? '16,64,56').split(',').map(Number);
const M = C;
const p = { kernel: [3, 3] as [number, number], strides: [1, 1] as [number, number], pads: [1, 1, 1, 1] as [number, number, number, number], dilations: [1, 1] as [number, number], group: 1 };
function build(variant: string) {
  const g = new Graph();
  const x = g.input('x', 'float32', [N, C, H, H]);
  const dy = g.input('dy', 'float32', [N, M, H, H]);
  let dw: string;
  if (variant === 'current') dw = convWeightGrad(g, dy, x, [M, C, 3, 3], p);
  else if (variant === 'pertap') {
    const xt = g.op('Transpose', [x], { perm: [1, 0, 2, 3] });
    const xp = g.op('Pad', [xt, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
    const dyt = g.op('Reshape', [g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }), g.ints([M, N * H * H])]);
    const taps: string[] = [];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        const s = g.op('Slice', [xp, g.ints([i, j]), g.ints([i + H, j + H]), g.ints([2, 3])]);
        taps.push(g.op('Unsqueeze', [g.op('Gemm', [dyt, g.op('Reshape', [s, g.ints([C, N * H * H])])], { transB: 1 }), g.ints([2])]));
      }
    dw = g.op('Reshape', [g.op('Concat', taps, { axis: 2 }), g.ints([M, C, 3, 3])]);
  } else if (variant === 'shift' || variant === 'shift-pertap') {
    const Hp = H + 2;
    const xt = g.op('Transpose', [x], { perm: [1, 0, 2, 3] });
    const xp = g.op('Pad', [xt, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
    const T = N * Hp * Hp;
    const off = 2 * Hp + 2;
    const L = T - off;
    const xf = g.op('Reshape', [xp, g.ints([C, T])]);
    const dyt = g.op('Transpose', [dy], { perm: [1, 0, 2, 3] });
    const dyp = g.op('Pad', [dyt, g.ints([0, 0, 0, 0, 0, 0, 2, 2])]);
    const dyf = g.op('Slice', [g.op('Reshape', [dyp, g.ints([M, T])]), g.ints([0]), g.ints([L]), g.ints([1])]);
    const taps: string[] = [];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        const o = i * Hp + j;
        taps.push(g.op('Slice', [xf, g.ints([o]), g.ints([o + L]), g.ints([1])]));
      }
    if (variant === 'shift') {
      const cols = g.op('Concat', taps, { axis: 0 });
      const w = g.op('Gemm', [dyf, cols], { transB: 1 });
      dw = g.op('Transpose', [g.op('Reshape', [w, g.ints([M, 3, 3, C])])], { perm: [0, 3, 1, 2] });
    } else {
      const parts = taps.map((t) => g.op('Unsqueeze', [g.op('Gemm', [dyf, t], { transB: 1 }), g.ints([2])]));
      dw = g.op('Reshape', [g.op('Concat', parts, { axis: 2 }), g.ints([M, C, 3, 3])]);
    }
  } else throw new Error(variant);
  g.output(g.alias(dw, 'dw'));
  return serializeModel(g);
}
const variants = (process.env.V ?? 'current,pertap,shift,shift-pertap').split(',');
const sessions = await Promise.all(variants.map((v) => Session.create(build(v), { threads: 2 })));
const x = { dtype: 'float32' as const, shape: [N, C, H, H], data: Float32Array.from({ length: N * C * H * H }, () => Math.random()) };
const dy = { dtype: 'float32' as const, shape: [N, M, H, H], data: Float32Array.from({ length: N * M * H * H }, () => Math.random()) };
const times: number[][] = variants.map(() => []);
let ref: Float32Array | undefined;
for (let r = 0; r < 6; r++)
  for (let k = 0; k < variants.length; k++) {
    const t = performance.now();
    const out = (await sessions[k].run({ x, dy })).dw.data as Float32Array;
    times[k].push(performance.now() - t);
    if (!ref) ref = out;
    else if (r === 0)
      console.log(
        variants[k],
        'max diff vs first',
        out.reduce((m, v, i) => Math.max(m, Math.abs(v - ref![i])), 0),
      );
  }
variants.forEach((v, k) => console.log(v.padEnd(14), 'median ms', [...times[k]].sort((a, b) => a - b)[3].toFixed(1), times[k].map((t) => t.toFixed(0)).join(' ')));
