import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { appendBackward } from '../src/onnx/autodiff.js';
import { Graph, type AttrValue } from '../src/onnx/graph.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';

/**
 * The input gradient of a stride-1 conv flips its kernel; the anti-identity MatMul that does it
 * must give exactly the values of the Slice with step -1 it replaced (HEADSTART_FLIP_SLICE=1),
 * for dense, grouped, depthwise and non-square kernels. The finite-difference check of the rule
 * itself is test/engine-gradcheck.test.ts.
 */
const cases: { label: string; x: number[]; w: number[]; attrs: Record<string, AttrValue> }[] = [
  { label: 'dense 3x3', x: [2, 4, 6, 6], w: [5, 4, 3, 3], attrs: { pads: [1, 1, 1, 1] } },
  { label: 'grouped 3x3', x: [1, 4, 5, 5], w: [6, 2, 3, 3], attrs: { pads: [1, 1, 1, 1], group: 2 } },
  { label: 'depthwise 5x5', x: [1, 3, 7, 7], w: [3, 1, 5, 5], attrs: { pads: [2, 2, 2, 2], group: 3 } },
  { label: 'dense 1x3', x: [1, 2, 4, 6], w: [3, 2, 1, 3], attrs: { pads: [0, 1, 0, 1] } },
];

async function inputGradient(c: (typeof cases)[number], slice: boolean, x: Float32Array, w: Float32Array): Promise<{ dx: Float32Array; ops: string[] }> {
  if (slice) process.env.HEADSTART_FLIP_SLICE = '1';
  try {
    const g = new Graph();
    const xi = g.input('x', 'float32', c.x);
    const wi = g.input('w', 'float32', c.w);
    const y = g.op('Conv', [xi, wi], c.attrs);
    const loss = g.op('ReduceSum', [g.op('Mul', [y, y])], { keepdims: 0 });
    const { gradients } = appendBackward(g, loss, ['x']);
    g.output(g.alias(gradients.get('x')!, 'dx'));
    const s = await Session.create(serializeModel(g), { threads: 1 });
    const out = await s.run({ x: { dtype: 'float32', shape: c.x, data: x }, w: { dtype: 'float32', shape: c.w, data: w } });
    await s.release();
    return { dx: out.dx.data as Float32Array, ops: g.nodes.map((n) => n.op) };
  } finally {
    delete process.env.HEADSTART_FLIP_SLICE;
  }
}

for (const c of cases) {
  test(`kernel flip by anti-identity MatMul equals Slice step -1: ${c.label}`, async () => {
    const rng = new Random(3);
    const x = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => rng.normal());
    const w = Float32Array.from({ length: c.w.reduce((a, b) => a * b) }, () => rng.normal());
    const matmul = await inputGradient(c, false, x, w);
    const slice = await inputGradient(c, true, x, w);
    assert.ok(matmul.ops.includes('MatMul') && !matmul.ops.includes('Slice'), `the default flips by MatMul (ops: ${matmul.ops.join(' ')})`);
    assert.ok(slice.ops.includes('Slice'), 'HEADSTART_FLIP_SLICE=1 flips by Slice');
    assert.ok(
      slice.dx.some((v) => v !== 0),
      'the gradient is not trivially zero',
    );
    assert.deepEqual(matmul.dx, slice.dx);
  });
}
