import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { appendBackward } from '../src/onnx/autodiff.js';
import { Graph } from '../src/onnx/graph.js';
import { getOp } from '../src/onnx/op-registry.js';
import { batchNorm } from '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';
import { gradCheck } from './gradcheck.js';

/**
 * Training-mode BatchNorm's batch statistics from ReduceSum + ReduceSumSquare
 * (HEADSTART_BN_STATS=sums, src/onnx/ops/batchnorm.ts) instead of the centred two-pass form:
 * the gradient passes the finite-difference check, and outputs, running statistics and input
 * gradient match the centred form on a network-like activation (non-zero mean, batch 4).
 */
async function withForm<T>(form: 'sums' | 'centred', fn: () => Promise<T>): Promise<T> {
  const before = process.env.HEADSTART_BN_STATS;
  process.env.HEADSTART_BN_STATS = form;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.HEADSTART_BN_STATS;
    else process.env.HEADSTART_BN_STATS = before;
  }
}

for (const c of (getOp('BatchNormalization').gradCases ?? []).filter((k) => k.label.includes('training'))) {
  test(`gradient of BatchNormalization with statistics from sums: ${c.label}`, async () => {
    const r = await withForm('sums', () => gradCheck(c));
    const tol = (c.tolerance ?? 2e-2) * Math.max(r.maxGrad, 1e-3);
    assert.ok(r.maxGrad > 0, 'the check must see a non-zero gradient');
    assert.ok(r.maxError <= tol, `max error ${r.maxError.toExponential(2)} > ${tol.toExponential(2)}; worst ${r.worst}`);
  });
}

async function run(x: Float32Array, shape: number[], dy: Float32Array): Promise<{ out: Record<string, Float32Array>; ops: string[] }> {
  const g = new Graph();
  const c = shape[1];
  const xi = g.input('x', 'float32', shape);
  const scale = g.input('scale', 'float32', [c]);
  const bias = g.input('bias', 'float32', [c]);
  const r = batchNorm(g, xi, { scale, bias, mean: g.floats(new Float32Array(c).fill(0.5), [c]), variance: g.floats(new Float32Array(c).fill(2), [c]) }, { training: true, momentum: 0.1 });
  const loss = g.op('ReduceSum', [g.op('Mul', [r.y, g.floats(dy, shape)])], { keepdims: 0 });
  const { gradients } = appendBackward(g, loss, ['x', 'scale']);
  g.output(g.alias(r.y, 'y'));
  g.output(g.alias(r.runningMean!, 'mean'));
  g.output(g.alias(r.runningVar!, 'var'));
  g.output(g.alias(gradients.get('x')!, 'dx'));
  g.output(g.alias(gradients.get('scale')!, 'dscale'));
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const rng = new Random(2);
  const res = await s.run({
    x: { dtype: 'float32', shape, data: x },
    scale: { dtype: 'float32', shape: [c], data: Float32Array.from({ length: c }, () => 1 + 0.2 * rng.normal()) },
    bias: { dtype: 'float32', shape: [c], data: Float32Array.from({ length: c }, () => rng.normal()) },
  });
  await s.release();
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(res)) out[k] = v.data as Float32Array;
  return { out, ops: g.nodes.map((n) => n.op) };
}

test('BatchNorm statistics from sums match the centred form (outputs, running statistics, gradients)', async () => {
  const shape = [4, 16, 14, 14];
  const n = shape.reduce((a, b) => a * b);
  const rng = new Random(7);
  // Per-channel offsets up to 3 standard deviations: the cancellation E[x^2] - mean^2 must stay accurate.
  const x = Float32Array.from({ length: n }, (_, i) => 3 * Math.sin(Math.floor(i / 196) % 16) + 0.5 * rng.normal());
  const dy = Float32Array.from({ length: n }, () => rng.normal());
  const sums = await withForm('sums', () => run(x, shape, dy));
  const centred = await withForm('centred', () => run(x, shape, dy));
  assert.ok(!sums.ops.includes('ReduceMean') && centred.ops.includes('ReduceMean'), 'the two forms differ');
  for (const k of ['y', 'mean', 'var', 'dx', 'dscale']) {
    const a = centred.out[k];
    const b = sums.out[k];
    let scale = 0;
    let diff = 0;
    a.forEach((v, i) => {
      scale = Math.max(scale, Math.abs(v));
      diff = Math.max(diff, Math.abs(v - b[i]));
    });
    assert.ok(scale > 0, `${k} is not trivially zero`);
    assert.ok(diff <= 2e-5 * scale, `${k}: max difference ${diff.toExponential(2)} vs scale ${scale.toExponential(2)}`);
  }
});
