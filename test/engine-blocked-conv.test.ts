import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockedConvLayout } from '../src/engine/blocked-layout.js';
import { buildInferenceGraph, buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { parseModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';
import type { NamedTensors } from '../src/tensor.js';
import { relError } from './rel-error.js';

/**
 * The blocked-layout (NCHWc) training graph against the plain one: same loss, gradients and
 * running statistics for a whole zoo network, every trainable conv rewritten (min size 1),
 * including the stem (3 input channels), strided convs and the input-gradient convs on
 * flipped kernels. The plain graph is what onnxruntime-web runs and what the PyTorch parity
 * tests check, so agreement here carries that parity over to the blocked graph.
 */
const layout = await blockedConvLayout({ HEADSTART_BLOCKED_CONV: '1' });
const skip = layout ? false : 'the NCHWc self-test failed on this ONNX Runtime build (training uses the plain graph here)';

const nchwcOps = (bytes: Uint8Array) => (parseModel(bytes).model.graph!.node ?? []).filter((n) => n.domain === 'com.microsoft.nchwc').length;

function copyOf(tensors: NamedTensors): NamedTensors {
  return new Map([...tensors].map(([k, t]) => [k, { ...t, shape: [...t.shape], data: (t.data as Float32Array).slice() }]));
}

// MobileNetV2 on batch statistics at batch 2 and a 2x2 last stage is ill-conditioned (a 1e-7
// difference in the stem's output moves its gradients by ~1%, for any two summation orders):
// it is compared with BatchNorm on running statistics (freezeBn), every conv still trained.
for (const [name, size, freezeBn] of [
  ['resnet18', 48, false],
  ['mobilenet_v2', 64, true],
] as const) {
  test(`${name}: the blocked-layout training step gives the plain graph's loss, gradients and running statistics`, { skip }, async () => {
    const spec = { ...getModel(name), head: { ...getModel(name).head, dropout: 0 } };
    const opts = { batch: 2, numClasses: 3, inputSize: size, trainable: () => true, freezeBn };
    const tolerance = 1e-4;
    const plain = buildTrainingGraph(spec, opts);
    const blocked = buildTrainingGraph(spec, { ...opts, blocked: { block: layout!.block, minSize: 1 } });
    assert.equal(nchwcOps(plain.bytes), 0, 'the plain graph has no contrib ops');
    assert.ok(nchwcOps(blocked.bytes) > 10, `the blocked graph rewrites convolutions (found ${nchwcOps(blocked.bytes)} nchwc nodes)`);
    // The exported (inference) model never carries contrib ops.
    assert.equal(nchwcOps(buildInferenceGraph(spec, { batch: -1, numClasses: 3, inputSize: size }).bytes), 0);

    const rng = new Random(1);
    const images = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal());
    const targets = crossEntropyCoefficients([0, 2], 3);
    const init = initParams(plain.params, 0);
    const results = [];
    for (const graph of [plain, blocked]) {
      const params = copyOf(init);
      const session = await TrainingSession.create(graph, params, { threads: 1 });
      const r = await session.step(images, targets);
      results.push({ loss: r.loss, grads: new Map([...r.grads].map(([k, v]) => [k, v.slice()])), params });
      await session.release();
    }
    const [a, b] = results;
    assert.ok(Math.abs(a.loss - b.loss) <= tolerance * Math.abs(a.loss), `loss ${b.loss} vs plain ${a.loss}`);
    const failures: string[] = [];
    for (const [p, g] of a.grads) {
      const err = relError(b.grads.get(p)!, g);
      if (!(err <= tolerance)) failures.push(`grad ${p}: relative error ${err.toExponential(2)}`);
    }
    for (const p of plain.running) {
      const err = relError(b.params.get(p)!.data as Float32Array, a.params.get(p)!.data as Float32Array);
      if (!(err <= tolerance)) failures.push(`${p}: relative error ${err.toExponential(2)}`);
    }
    assert.deepEqual(failures, []);
  });
}

test('HEADSTART_BLOCKED_CONV=0 keeps the plain graph, =1 blocks; the minimum size is configurable', async () => {
  assert.equal(await blockedConvLayout({ HEADSTART_BLOCKED_CONV: '0' }), undefined);
  const custom = await blockedConvLayout({ HEADSTART_BLOCKED_CONV: '1', HEADSTART_BLOCKED_CONV_MIN: '14' });
  if (layout) assert.deepEqual(custom, { block: layout.block, minSize: 14 });
  else assert.equal(custom, undefined);
});
