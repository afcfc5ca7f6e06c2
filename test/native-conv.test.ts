/**
 * The optional oneDNN convolution addon (native/, src/engine/native-conv.ts) against a float64
 * reference convolution and against headstart's own ONNX formulation (the Conv gradient rule run
 * by ONNX Runtime). Skipped where the addon is not built (native/build.sh needs libdnnl-dev).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { loadNativeConv, nativeConvOutputShape, requireNativeConv, type NativeConvSpec } from '../src/engine/native-conv.js';
import { EngineError } from '../src/errors.js';
import { Graph } from '../src/onnx/graph.js';
import { getOp } from '../src/onnx/op-registry.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';
import { relError } from './rel-error.js';

const loaded = loadNativeConv();
const skip = 'conv' in loaded ? false : `${loaded.reason}`;

/** Float64 reference: forward, and the two gradients of sum(y * dy). */
function reference(spec: NativeConvSpec, x: Float32Array, w: Float32Array, dy: Float32Array) {
  const [n, c, h, wd] = spec.x;
  const [m, cg, kh, kw] = spec.w;
  const [sh, sw] = spec.strides ?? [1, 1];
  const [pt, pl] = spec.pads ?? [0, 0, 0, 0];
  const [dh, dwl] = spec.dilations ?? [1, 1];
  const group = spec.group ?? 1;
  const [, , oh, ow] = nativeConvOutputShape(spec);
  const mg = m / group;
  const y = new Float64Array(n * m * oh * ow);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  for (let b = 0; b < n; b++)
    for (let o = 0; o < m; o++) {
      const gi = Math.floor(o / mg);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const yi = ((b * m + o) * oh + i) * ow + j;
          let acc = 0;
          for (let ci = 0; ci < cg; ci++) {
            const ch = gi * cg + ci;
            for (let u = 0; u < kh; u++) {
              const r = i * sh - pt + u * dh;
              if (r < 0 || r >= h) continue;
              for (let v = 0; v < kw; v++) {
                const col = j * sw - pl + v * dwl;
                if (col < 0 || col >= wd) continue;
                const xi = ((b * c + ch) * h + r) * wd + col;
                const wi = ((o * cg + ci) * kh + u) * kw + v;
                acc += x[xi] * w[wi];
                dx[xi] += dy[yi] * w[wi];
                dw[wi] += dy[yi] * x[xi];
              }
            }
          }
          y[yi] = acc;
        }
    }
  return { y, dx, dw };
}

const CASES: { label: string; spec: NativeConvSpec }[] = [
  { label: '3x3 stride 1 pad 1', spec: { x: [2, 5, 9, 9], w: [6, 5, 3, 3], pads: [1, 1, 1, 1] } },
  { label: '3x3 stride 2 pad 1 (odd input)', spec: { x: [2, 4, 11, 11], w: [8, 4, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } },
  { label: '1x1 stride 2 (downsample)', spec: { x: [3, 8, 10, 10], w: [16, 8, 1, 1], strides: [2, 2] } },
  { label: '7x7 stride 2 pad 3, 3 channels (stem)', spec: { x: [2, 3, 20, 20], w: [8, 3, 7, 7], strides: [2, 2], pads: [3, 3, 3, 3] } },
  { label: 'depthwise 3x3 (group = channels)', spec: { x: [2, 8, 10, 10], w: [8, 1, 3, 3], pads: [1, 1, 1, 1], group: 8 } },
  { label: 'depthwise 3x3 stride 2', spec: { x: [2, 6, 9, 9], w: [6, 1, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1], group: 6 } },
  { label: '2 groups, asymmetric pads, rectangular', spec: { x: [1, 4, 7, 12], w: [6, 2, 3, 2], strides: [1, 2], pads: [0, 1, 2, 0], group: 2 } },
  { label: 'dilation 2', spec: { x: [2, 3, 12, 12], w: [4, 3, 3, 3], pads: [2, 2, 2, 2], dilations: [2, 2] } },
];

function randomArray(rng: Random, length: number): Float32Array {
  return Float32Array.from({ length }, () => rng.normal());
}

for (const { label, spec } of CASES) {
  test(`native conv ${label}: forward, input and weight gradients match a float64 reference`, { skip }, () => {
    const conv = requireNativeConv();
    conv.setThreads(2);
    const rng = new Random(label.length);
    const x = randomArray(
      rng,
      spec.x.reduce((a, b) => a * b, 1),
    );
    const w = randomArray(
      rng,
      spec.w.reduce((a, b) => a * b, 1),
    );
    const dy = randomArray(
      rng,
      nativeConvOutputShape(spec).reduce((a, b) => a * b, 1),
    );
    const ref = reference(spec, x, w, dy);
    const y = conv.forward(spec, x, w);
    const dx = conv.backwardData(spec, dy, w);
    const dw = conv.backwardWeights(spec, x, dy);
    assert.ok(relError(y, ref.y) < 1e-5, `forward ${relError(y, ref.y)}`);
    assert.ok(relError(dx, ref.dx) < 1e-5, `backward-data ${relError(dx, ref.dx)}`);
    assert.ok(relError(dw, ref.dw) < 1e-5, `backward-weights ${relError(dw, ref.dw)}`);
    // A second call on the cached primitives writes into the given buffers and gives the same result.
    const again = new Float32Array(dw.length).fill(Number.NaN);
    assert.equal(conv.backwardWeights(spec, x, dy, again), again);
    assert.deepEqual(Array.from(again), Array.from(dw));
  });
}

test("native conv agrees with headstart's ONNX formulation of the same layer (Conv and its gradient rule on ONNX Runtime)", { skip }, async () => {
  const conv = requireNativeConv();
  const spec: NativeConvSpec = { x: [2, 16, 14, 14], w: [32, 16, 3, 3], strides: [2, 2], pads: [1, 1, 1, 1] };
  const yShape = nativeConvOutputShape(spec);
  const g = new Graph();
  const x = g.input('x', 'float32', spec.x);
  const w = g.input('w', 'float32', spec.w);
  const dy = g.input('dy', 'float32', yShape);
  const y = g.op('Conv', [x, w], { strides: spec.strides!, pads: spec.pads!, kernel_shape: [3, 3] });
  const node = g.nodes[g.nodes.length - 1];
  const [dx, dw] = getOp('Conv').grad!(g, node, [dy], [true, true]);
  g.output(g.alias(y, 'y'));
  g.output(g.alias(dx!, 'dx'));
  g.output(g.alias(dw!, 'dw'));
  const s = await Session.create(serializeModel(g), { threads: 2 });
  const rng = new Random(7);
  const data = {
    x: randomArray(
      rng,
      spec.x.reduce((a, b) => a * b, 1),
    ),
    w: randomArray(
      rng,
      spec.w.reduce((a, b) => a * b, 1),
    ),
    dy: randomArray(
      rng,
      yShape.reduce((a, b) => a * b, 1),
    ),
  };
  const out = await s.run({
    x: { dtype: 'float32', shape: spec.x, data: data.x },
    w: { dtype: 'float32', shape: spec.w, data: data.w },
    dy: { dtype: 'float32', shape: yShape, data: data.dy },
  });
  await s.release();
  const ours = {
    y: conv.forward(spec, data.x, data.w),
    dx: conv.backwardData(spec, data.dy, data.w),
    dw: conv.backwardWeights(spec, data.x, data.dy),
  };
  for (const k of ['y', 'dx', 'dw'] as const) {
    const e = relError(ours[k], out[k].data as Float32Array);
    assert.ok(e < 1e-5, `${k}: relative error ${e}`);
  }
});

test('native conv rejects buffers that do not fit the spec with E_SHAPE_MISMATCH, nothing written', { skip }, () => {
  const conv = requireNativeConv();
  const spec: NativeConvSpec = { x: [1, 2, 5, 5], w: [3, 2, 3, 3] };
  const y = new Float32Array(3 * 9).fill(7);
  assert.throws(
    () => conv.forward(spec, new Float32Array(49), new Float32Array(54), y),
    (err: unknown) => err instanceof EngineError && err.code === 'E_SHAPE_MISMATCH' && /x holds 49 floats, the spec needs 50/.test(err.message),
  );
  assert.ok(y.every((v) => v === 7));
  assert.throws(
    () => conv.forward({ x: [1, 4, 5, 5], w: [3, 3, 3, 3], group: 2 }, new Float32Array(100), new Float32Array(81)),
    (err: unknown) => err instanceof EngineError && err.code === 'E_SHAPE_MISMATCH' && /input channels 4/.test(err.message),
  );
  assert.throws(
    () => conv.backwardData(spec, new Float32Array(27), new Float64Array(54) as unknown as Float32Array),
    (err: unknown) => err instanceof EngineError && err.code === 'E_BAD_ARGUMENT' && /w must be a Float32Array/.test(err.message),
  );
});

test('without the addon (HEADSTART_NATIVE_CONV=0) requireNativeConv fails with E_DEVICE and says how to build it', () => {
  const off = loadNativeConv({ HEADSTART_NATIVE_CONV: '0' });
  assert.ok('reason' in off && /HEADSTART_NATIVE_CONV=0/.test(off.reason));
  assert.throws(
    () => requireNativeConv({ HEADSTART_NATIVE_CONV: '0' }),
    (err: unknown) => err instanceof EngineError && err.code === 'E_DEVICE' && /libdnnl-dev/.test(err.hint ?? ''),
  );
});
