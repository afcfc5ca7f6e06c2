import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { appendBackward } from '../src/onnx/autodiff.js';
import { Graph, type AttrValue } from '../src/onnx/graph.js';
import { intsAttr } from '../src/onnx/op-registry.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';

/**
 * The depthwise weight gradient as one grouped Conv with the batch folded into the channels
 * (src/onnx/ops/conv.ts, the default) against the per-tap form it replaced
 * (HEADSTART_DEPTHWISE_DW=taps) and against a float64 reference, on MobileNetV2- and
 * EfficientNet-like shapes: 3x3 and 5x5, stride 1 and 2, odd sizes (the grouped Conv's output
 * is then cropped), dilation, asymmetric pads. The finite-difference checks of the same rule are
 * in the Conv cases of test/engine-gradcheck.test.ts.
 */
const shapes: { label: string; x: number[]; k: number; attrs: Record<string, AttrValue> }[] = [
  { label: 'MobileNet 3x3 stride 1', x: [4, 16, 32, 32], k: 3, attrs: { pads: [1, 1, 1, 1] } },
  { label: 'MobileNet 3x3 stride 2', x: [4, 24, 32, 32], k: 3, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  { label: '3x3 stride 2 on an odd size', x: [3, 8, 17, 17], k: 3, attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } },
  { label: 'EfficientNet 5x5 stride 2', x: [2, 12, 30, 30], k: 5, attrs: { strides: [2, 2], pads: [2, 2, 2, 2] } },
  { label: 'EfficientNet 5x5 stride 1', x: [2, 8, 14, 14], k: 5, attrs: { pads: [2, 2, 2, 2] } },
  { label: '3x3 dilated 2, asymmetric pads', x: [2, 6, 15, 13], k: 3, attrs: { dilations: [2, 2], pads: [2, 1, 1, 2] } },
];

/** dW of sum(conv(x, w) * r), float64, written out from the definition. */
function reference(c: (typeof shapes)[number], x: Float32Array, r: Float32Array, ho: number, wo: number): Float64Array {
  const [n, ch, h, w] = c.x;
  const k = c.k;
  const [sh, sw] = intsAttr({ attrs: c.attrs } as never, 'strides', [1, 1]);
  const [dh, dw] = intsAttr({ attrs: c.attrs } as never, 'dilations', [1, 1]);
  const [pt, pl] = intsAttr({ attrs: c.attrs } as never, 'pads', [0, 0, 0, 0]);
  const out = new Float64Array(ch * k * k);
  for (let b = 0; b < n; b++)
    for (let cc = 0; cc < ch; cc++)
      for (let i = 0; i < k; i++)
        for (let j = 0; j < k; j++) {
          let acc = 0;
          for (let y = 0; y < ho; y++) {
            const xy = y * sh + i * dh - pt;
            if (xy < 0 || xy >= h) continue;
            for (let z = 0; z < wo; z++) {
              const xz = z * sw + j * dw - pl;
              if (xz < 0 || xz >= w) continue;
              acc += r[((b * ch + cc) * ho + y) * wo + z] * x[((b * ch + cc) * h + xy) * w + xz];
            }
          }
          out[(cc * k + i) * k + j] += acc;
        }
  return out;
}

async function weightGradient(c: (typeof shapes)[number], form: 'conv' | 'taps', x: Float32Array, w: Float32Array, seed: number) {
  const before = process.env.HEADSTART_DEPTHWISE_DW;
  if (form === 'taps') process.env.HEADSTART_DEPTHWISE_DW = 'taps';
  else delete process.env.HEADSTART_DEPTHWISE_DW;
  try {
    const ch = c.x[1];
    const g = new Graph();
    const xi = g.input('x', 'float32', c.x);
    const wi = g.input('w', 'float32', [ch, 1, c.k, c.k]);
    const y = g.op('Conv', [xi, wi], { ...c.attrs, group: ch });
    const yShape = g.shape(y);
    const ri = g.input('r', 'float32', yShape);
    const loss = g.op('ReduceSum', [g.op('Mul', [y, ri])], { keepdims: 0 });
    const { gradients } = appendBackward(g, loss, ['w']);
    g.output(g.alias(gradients.get('w')!, 'dw'));
    const rng = new Random(seed);
    const r = Float32Array.from({ length: yShape.reduce((a, b) => a * b) }, () => rng.normal());
    const s = await Session.create(serializeModel(g), { threads: 1 });
    const out = await s.run({ x: { dtype: 'float32', shape: c.x, data: x }, w: { dtype: 'float32', shape: [ch, 1, c.k, c.k], data: w }, r: { dtype: 'float32', shape: yShape, data: r } });
    await s.release();
    return { dw: out.dw.data as Float32Array, r, ho: yShape[2], wo: yShape[3], ops: g.nodes.map((n) => n.op) };
  } finally {
    if (before === undefined) delete process.env.HEADSTART_DEPTHWISE_DW;
    else process.env.HEADSTART_DEPTHWISE_DW = before;
  }
}

const relError = (a: ArrayLike<number>, ref: Float64Array): number => {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
};

for (const [index, c] of shapes.entries()) {
  test(`depthwise weight gradient as one grouped Conv: ${c.label}`, async () => {
    const rng = new Random(index);
    const x = Float32Array.from({ length: c.x.reduce((a, b) => a * b) }, () => rng.normal() + 0.5);
    const w = Float32Array.from({ length: c.x[1] * c.k * c.k }, () => rng.normal());
    const conv = await weightGradient(c, 'conv', x, w, 100 + index);
    const taps = await weightGradient(c, 'taps', x, w, 100 + index);
    // The forms are what they say: the forward Conv and the gradient's Conv in the new one (and
    // only the loss's two Muls), a Mul per tap in the old one.
    assert.deepEqual([conv.ops.filter((op) => op === 'Conv').length, conv.ops.filter((op) => op === 'Mul').length], [2, 2], `ops: ${conv.ops.join(' ')}`);
    assert.ok(taps.ops.filter((op) => op === 'Mul').length >= 2 + c.k * c.k, `ops: ${taps.ops.join(' ')}`);
    const ref = reference(c, x, conv.r, conv.ho, conv.wo);
    const errConv = relError(conv.dw, ref);
    const errTaps = relError(taps.dw, ref);
    assert.ok(errConv < 2e-6, `grouped Conv: ${errConv.toExponential(2)} relative from float64 (per-tap form: ${errTaps.toExponential(2)})`);
    assert.ok(relError(conv.dw, Float64Array.from(taps.dw)) < 2e-6, 'the two forms agree');
  });
}
