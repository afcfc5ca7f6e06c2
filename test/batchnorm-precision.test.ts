import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { Graph } from '../src/onnx/graph.js';
import '../src/onnx/ops/index.js';
import { batchNorm } from '../src/onnx/ops/batchnorm.js';
import { serializeModel } from '../src/onnx/serialize.js';

/**
 * Training-mode BatchNorm's batch variance on a map like a 224-px stem's (8x112x112 values per
 * channel) that is mostly one constant (an image background) with some variation: the unbiased
 * running-variance update must match float64. ONNX Runtime's one-step ReduceSumSquare over
 * [0, 2, 3] was 5.7e-4 off on such data (issue 9); the two-step sum is within 1e-5.
 */
test('training-mode BatchNorm: batch variance of a large, mostly constant map matches float64', async () => {
  const [N, C, H] = [8, 2, 112];
  const g = new Graph();
  const x = g.input('x', 'float32', [N, C, H, H]);
  const r = batchNorm(g, x, { scale: g.floats([1, 1], [2]), bias: g.floats([0, 0], [2]), mean: g.floats([0, 0], [2]), variance: g.floats([0, 0], [2]) }, { training: true, momentum: 1 });
  g.output(g.alias(r.runningVar!, 'var'));
  const session = await Session.create(serializeModel(g), { threads: 2 });
  const data = new Float32Array(N * C * H * H);
  let seed = 7;
  for (let i = 0; i < data.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    data[i] = Math.fround(2 + (i % 7 === 0 ? (seed / 2147483648) * 0.5 : 0));
  }
  const out = (await session.run({ x: { dtype: 'float32', shape: [N, C, H, H], data } })).var.data as Float32Array;
  await session.release();
  const per = H * H;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < per; i++) sum += data[(n * C + c) * per + i];
    const mean = sum / (N * per);
    let sq = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < per; i++) sq += (data[(n * C + c) * per + i] - mean) ** 2;
    const unbiased = sq / (N * per - 1);
    const rel = Math.abs(out[c] - unbiased) / unbiased;
    assert.ok(rel < 1e-5, `channel ${c}: running variance ${out[c]} vs float64 ${unbiased} (relative error ${rel.toExponential(2)})`);
  }
});
