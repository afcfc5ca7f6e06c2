import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { appendBackward } from '../src/onnx/autodiff.js';
import { Graph, type AttrValue } from '../src/onnx/graph.js';
import { getOp, intsAttr } from '../src/onnx/op-registry.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';
import { gradCheck } from './gradcheck.js';

/**
 * Strided convolutions' input gradient as stride-1 sub-convolutions + DepthToSpace
 * (HEADSTART_STRIDED_DX=subconv, src/onnx/ops/conv.ts) instead of ConvTranspose: every strided
 * Conv gradient case of the registry passes the finite-difference check in that form, and the
 * two forms agree on network-like shapes (ResNet's 3x3 and 1x1 stride-2 convs and its 7x7 stem,
 * MobileNet's and EfficientNet's strided depthwise convs, odd sizes).
 */
async function withForm<T>(form: 'subconv' | 'convtranspose', fn: () => Promise<T>): Promise<T> {
  const before = process.env.HEADSTART_STRIDED_DX;
  process.env.HEADSTART_STRIDED_DX = form;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.HEADSTART_STRIDED_DX;
    else process.env.HEADSTART_STRIDED_DX = before;
  }
}

const stridedCases = (getOp('Conv').gradCases ?? []).filter((c) => {
  const g = new Graph();
  c.build(
    g,
    c.inputShapes.map((s, i) => g.input(`x${i}`, 'float32', s)),
  );
  return g.nodes.some((n) => n.op === 'Conv' && intsAttr(n, 'strides', [1, 1]).some((s) => s > 1));
});

test('the Conv gradient cases include strided convolutions', () => {
  assert.ok(stridedCases.length >= 3, `found ${stridedCases.length}`);
});

for (const c of stridedCases) {
  test(`gradient of Conv with sub-convolution input gradients: ${c.label}`, async () => {
    const r = await withForm('subconv', () => gradCheck(c));
    const tol = (c.tolerance ?? 2e-2) * Math.max(r.maxGrad, 1e-3);
    assert.ok(r.maxGrad > 0, 'the check must see a non-zero gradient');
    assert.ok(r.maxError <= tol, `max error ${r.maxError.toExponential(2)} > ${tol.toExponential(2)}; worst ${r.worst}`);
  });
}

const shapes: { label: string; x: number[]; w: number[]; attrs: Record<string, AttrValue>; op: string }[] = [
  { label: 'ResNet 3x3 stride 2', x: [2, 8, 14, 14], w: [16, 8, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, op: 'DepthToSpace' },
  { label: 'ResNet 1x1 stride 2 downsample', x: [2, 8, 14, 14], w: [16, 8, 1, 1], attrs: { strides: [2, 2] }, op: 'Pad' },
  { label: 'ResNet 7x7 stride 2 stem', x: [1, 3, 32, 32], w: [8, 3, 7, 7], attrs: { strides: [2, 2], pads: [3, 3, 3, 3] }, op: 'DepthToSpace' },
  { label: '3x3 stride 2 on an odd size', x: [2, 4, 15, 15], w: [6, 4, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] }, op: 'DepthToSpace' },
  { label: 'MobileNet depthwise 3x3 stride 2', x: [2, 8, 15, 15], w: [8, 1, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], group: 8 }, op: 'DepthToSpace' },
  { label: 'EfficientNet depthwise 5x5 stride 2', x: [1, 6, 16, 16], w: [6, 1, 5, 5], attrs: { strides: [2, 2], pads: [2, 2, 2, 2], group: 6 }, op: 'DepthToSpace' },
  { label: 'grouped 3x3 stride 2', x: [1, 8, 9, 9], w: [6, 4, 3, 3], attrs: { strides: [2, 2], pads: [1, 1, 1, 1], group: 2 }, op: 'DepthToSpace' },
  { label: '3x3 stride 3 no padding', x: [1, 4, 11, 11], w: [5, 4, 3, 3], attrs: { strides: [3, 3] }, op: 'DepthToSpace' },
];

async function inputGradient(c: (typeof shapes)[number], x: Float32Array, w: Float32Array): Promise<{ dx: Float32Array; ops: string[] }> {
  const g = new Graph();
  const xi = g.input('x', 'float32', c.x);
  const wi = g.input('w', 'float32', c.w);
  const y = g.op('Conv', [xi, wi], c.attrs);
  const r = g.input('r', 'float32', g.shape(y));
  const loss = g.op('ReduceSum', [g.op('Mul', [y, r])], { keepdims: 0 });
  const { gradients } = appendBackward(g, loss, ['x']);
  g.output(g.alias(gradients.get('x')!, 'dx'));
  const yShape = g.shape(y);
  const rng = new Random(5);
  const rv = Float32Array.from({ length: yShape.reduce((a, b) => a * b) }, () => rng.normal());
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const out = await s.run({ x: { dtype: 'float32', shape: c.x, data: x }, w: { dtype: 'float32', shape: c.w, data: w }, r: { dtype: 'float32', shape: yShape, data: rv } });
  await s.release();
  return { dx: out.dx.data as Float32Array, ops: g.nodes.map((n) => n.op) };
}

for (const c of shapes) {
  test(`strided input gradient, sub-convolutions equal ConvTranspose: ${c.label}`, async () => {
    const rng = new Random(3);
    const x = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => rng.normal());
    const w = Float32Array.from({ length: c.w.reduce((a, b) => a * b) }, () => rng.normal());
    const sub = await withForm('subconv', () => inputGradient(c, x, w));
    const ref = await withForm('convtranspose', () => inputGradient(c, x, w));
    assert.ok(ref.ops.includes('ConvTranspose'), 'the reference uses ConvTranspose');
    assert.ok(!sub.ops.includes('ConvTranspose') && sub.ops.includes(c.op), `the sub-convolution form has no ConvTranspose and a ${c.op} (ops: ${sub.ops.join(' ')})`);
    assert.equal(sub.dx.length, ref.dx.length);
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < ref.dx.length; i++) {
      scale = Math.max(scale, Math.abs(ref.dx[i]));
      diff = Math.max(diff, Math.abs(ref.dx[i] - sub.dx[i]));
    }
    assert.ok(scale > 0, 'the gradient is not trivially zero');
    assert.ok(diff <= 1e-5 * scale, `max difference ${diff.toExponential(2)} vs scale ${scale.toExponential(2)}`);
  });
}
