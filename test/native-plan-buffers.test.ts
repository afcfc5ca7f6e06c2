/**
 * The native plan's buffers (native/headstart_plan.cc, placeBuffers): every activation, gradient,
 * workspace and temporary gets an offset in one arena by its lifetime over the step's op sequence, so
 * buffers whose lifetimes do not overlap share bytes. Checked here: the arena is much smaller than one
 * buffer each would be; the step equals, bit for bit, the same plan's with one range per buffer
 * (HEADSTART_NATIVE_SHARE_BUFFERS=0: a lifetime cut short would let another buffer overwrite a value
 * still to be read); a step repeated on the same inputs gives bit-identical results (a buffer read before
 * it is written in a step would see what the previous step left); and HEADSTART_NATIVE_CONV_ALGO (shape,
 * the default: Winograd by a size rule; winograd: every 3x3 stride-1 convolution, the others falling
 * back to direct; auto: a timing probe per convolution) picks the convolutions it should and gives the
 * same step as direct within the parity tests' tolerance. Skipped where the addon is not built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativePlanUnavailable } from '../src/engine/native-plan.js';
import { NativeTrainingSession } from '../src/graphs/native-training-session.js';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { keyedRandom, Random } from '../src/random.js';
import type { NamedTensors } from '../src/tensor.js';
import { relError } from './rel-error.js';

const skip = nativePlanUnavailable() ?? false;
const B = 2;
const S = 64;
const K = 3;
const TOL = 2e-4;

function setup(model: string, algo?: string, env: Record<string, string> = {}, batch = B) {
  const spec = getModel(model);
  const opts = { batch, numClasses: K, inputSize: S, trainable: () => true };
  const params: NamedTensors = initParams(buildTrainingGraph(spec, opts).params, 7);
  const r = new Random(8);
  // BatchNorm shifts away from 0, as in native-step.test.ts: fewer ReLU inputs within rounding of the kink.
  for (const [name, t] of params) if (!name.startsWith('fc') && !name.startsWith('classifier') && name.endsWith('.bias')) (t.data as Float32Array).forEach((_, i, d) => (d[i] = r.uniform(1.7, 2.3)));
  if (algo) process.env.HEADSTART_NATIVE_CONV_ALGO = algo;
  Object.assign(process.env, env);
  try {
    const session = NativeTrainingSession.create(spec, { ...opts, threads: 1 }, params);
    if ('unsupported' in session) assert.fail(`${model} should run natively: ${session.unsupported}`);
    return session;
  } finally {
    delete process.env.HEADSTART_NATIVE_CONV_ALGO;
    for (const k of Object.keys(env)) delete process.env[k];
  }
}

const x = (() => {
  const r = new Random(3);
  return new Float32Array(B * 3 * S * S).map(() => r.uniform(-2, 2));
})();
const coeffs = crossEntropyCoefficients([0, 2], K);

for (const model of ['resnet18', 'mobilenet_v2', 'efficientnet_b0', 'mobilenet_v3_large']) {
  test(`${model}: buffers placed by liveness take a fraction of one-each; the step is bit-identical to unshared buffers' and when repeated`, { skip }, async () => {
    const session = setup(model);
    const st = session.stats();
    assert.ok(st.bufferBytes > 0 && st.unsharedBufferBytes > 0, 'the plan reports its buffer bytes');
    assert.ok(st.bufferBytes < 0.5 * st.unsharedBufferBytes, `arena ${st.bufferBytes} B vs ${st.unsharedBufferBytes} B with one buffer each`);
    // MobileNetV2's head has dropout: the same keyed source draws the same mask for both steps.
    const first = await session.step(x, coeffs, keyedRandom(1, 0));
    const firstGrads = new Map([...first.grads].map(([n, g]) => [n, g.slice()]));
    const firstLogits = first.logits.slice();
    const second = await session.step(x, coeffs, keyedRandom(1, 0));
    assert.equal(second.loss, first.loss);
    assert.deepEqual(second.logits, firstLogits);
    for (const [name, g] of firstGrads) assert.deepEqual(second.grads.get(name), g, `gradient of ${name} on the repeated step`);
    const unshared = setup(model, undefined, { HEADSTART_NATIVE_SHARE_BUFFERS: '0' });
    assert.equal(unshared.stats().bufferBytes, unshared.stats().unsharedBufferBytes, 'HEADSTART_NATIVE_SHARE_BUFFERS=0: one range per buffer');
    const own = await unshared.step(x, coeffs, keyedRandom(1, 0));
    assert.equal(own.loss, first.loss, 'loss with shared vs unshared buffers');
    assert.deepEqual(own.logits, firstLogits);
    for (const [name, g] of firstGrads) assert.deepEqual(own.grads.get(name), g, `gradient of ${name} with shared vs unshared buffers`);
  });
}

test('HEADSTART_NATIVE_CONV_ALGO=shape|winograd|auto: which convolutions use Winograd, and the same step as direct', { skip }, async (t) => {
  // oneDNN 2.6 has Winograd for float32 on AVX-512 only; elsewhere every convolution falls back to direct.
  const wino = setup('resnet18', 'winograd');
  const available = wino.stats().winogradConvs > 0;
  if (!available) t.diagnostic('no Winograd convolutions in oneDNN on this CPU: every plan runs direct; only that and the results are checked');
  const expect = (n: number) => (available ? n : 0);
  // The default (shape): Winograd for 3x3 stride-1 convolutions with >= 14x14 output maps and >= 1024
  // output positions in the batch: at 64 px ResNet18's layer1 (16x16) from batch 4 on, nothing at batch 2.
  assert.equal(setup('resnet18', undefined, {}, 4).stats().winogradConvs, expect(4), 'default, batch 4: layer1');
  assert.equal(setup('resnet18', 'shape').stats().winogradConvs, 0, 'default, batch 2: none');
  assert.throws(
    () => setup('resnet18', 'fastest'),
    (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT' && /expected shape \(the default\), direct, winograd or auto, found 'fastest'/.test(e.message),
  );
  const direct = setup('resnet18', 'direct');
  assert.equal(direct.stats().winogradConvs, 0, 'direct');
  const ref = await direct.step(x, coeffs);
  for (const algo of ['winograd', 'auto']) {
    const s = algo === 'winograd' ? wino : setup('resnet18', algo);
    const { convs, winogradConvs } = s.stats();
    assert.equal(convs, 20);
    // ResNet18 has 13 3x3 stride-1 convolutions; the stem, the strided and the 1x1 ones stay direct.
    if (algo === 'winograd') assert.equal(winogradConvs, expect(13));
    else assert.ok(winogradConvs >= 0 && winogradConvs <= 13, `auto: ${winogradConvs} Winograd convolutions`);
    const got = await s.step(x, coeffs);
    assert.ok(Math.abs(got.loss - ref.loss) <= TOL * Math.abs(ref.loss), `${algo}: loss ${got.loss} vs ${ref.loss}`);
    for (const [name, g] of ref.grads) {
      const e = relError(got.grads.get(name)!, g);
      assert.ok(e <= TOL, `${algo}: gradient of ${name} differs from direct by ${e.toExponential(2)}`);
    }
  }
});
