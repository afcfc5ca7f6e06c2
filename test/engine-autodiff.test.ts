import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { appendBackward } from '../src/onnx/autodiff.js';
import { crossEntropyCoefficients, crossEntropyLoss } from '../src/onnx/cross-entropy.js';
import { Graph } from '../src/onnx/graph.js';
import { importGraph } from '../src/onnx/import-graph.js';
import '../src/onnx/ops/index.js';
import { dropout } from '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { GraphError } from '../src/errors.js';
import { Random } from '../src/random.js';

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

test('an op without a gradient rule fails with an error naming the op and the node', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [2, 3]);
  const y = g.op('ReduceMax', [x], { axes: [1], keepdims: 0 }, 'my_max');
  const loss = g.op('ReduceSum', [y], { keepdims: 0 });
  assert.throws(
    () => appendBackward(g, loss, [x]),
    (err: unknown) => err instanceof GraphError && /ReduceMax/.test(err.message) && /my_max/.test(err.message),
  );
});

test('a frozen backbone gets no backward pass: only the head is differentiated', () => {
  const spec = getModel('resnet18');
  const frozen = buildTrainingGraph(spec, { batch: 2, numClasses: 3, inputSize: 64, trainable: (n) => n.startsWith('fc.') });
  const full = buildTrainingGraph(spec, { batch: 2, numClasses: 3, inputSize: 64, trainable: () => true });
  assert.deepEqual(frozen.trainable, ['fc.weight', 'fc.bias']);
  assert.equal(frozen.running.length, 0, 'frozen BatchNorm layers keep their statistics');
  const { graph } = importGraph(frozen.bytes);
  const convs = graph.nodes.filter((n) => n.op === 'Conv').length;
  assert.equal(convs, 20, 'forward convolutions only (ResNet18 has 20)');
  assert.ok(!graph.nodes.some((n) => n.op === 'ConvTranspose' || n.op === 'ScatterElements'));
  assert.equal(full.trainable.length, 62);
  assert.ok(importGraph(full.bytes).graph.nodes.filter((n) => n.op === 'Conv').length > convs);
});

test('dropout in training mode: the gradient is the mask scaled by 1/(1-p)', async () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [4, 50]);
  const y = dropout(g, x, 0.3, true);
  const loss = g.op('ReduceSum', [y], { keepdims: 0 });
  const { gradients } = appendBackward(g, loss, [x]);
  g.output(g.alias(y, 'y'));
  g.output(g.alias(gradients.get(x)!, 'dx'));
  const s = await Session.create(serializeModel(g), { threads: 1 });
  const data = Float32Array.from({ length: 200 }, (_, i) => 1 + i / 200);
  const out = await s.run({ x: { dtype: 'float32', shape: [4, 50], data } });
  const yv = out.y.data as Float32Array;
  const dx = out.dx.data as Float32Array;
  let dropped = 0;
  for (let i = 0; i < 200; i++) {
    if (yv[i] === 0) {
      dropped++;
      assert.equal(dx[i], 0);
    } else assert.ok(Math.abs(dx[i] - 1 / 0.7) < 1e-5 && Math.abs(yv[i] - data[i] / 0.7) < 1e-5);
  }
  assert.ok(dropped > 20 && dropped < 110, `${dropped} of 200 dropped at p=0.3`);
  await s.release();
});

test('cross-entropy with label smoothing and class weights matches torch (loss and gradient)', { skip: hasTorch ? false : 'needs Debian python3-torch at /usr/bin/python3' }, async () => {
  const rng = new Random(3);
  const [b, k] = [5, 4];
  const logits = Array.from({ length: b * k }, () => rng.normal() * 2);
  const labels = [0, 3, 1, 1, 2];
  const weights = [0.5, 2, 1, 1.5];
  for (const [smoothing, w] of [
    [0, undefined],
    [0.1, undefined],
    [0.2, weights],
    [0, weights],
  ] as const) {
    const g = new Graph();
    const z = g.input('z', 'float32', [b, k]);
    const c = g.input('c', 'float32', [b, k]);
    const loss = crossEntropyLoss(g, z, c);
    const { gradients } = appendBackward(g, loss, [z]);
    g.output(g.alias(loss, 'loss'));
    g.output(g.alias(gradients.get(z)!, 'dz'));
    const s = await Session.create(serializeModel(g), { threads: 1 });
    const out = await s.run({
      z: { dtype: 'float32', shape: [b, k], data: Float32Array.from(logits) },
      c: { dtype: 'float32', shape: [b, k], data: crossEntropyCoefficients(labels, k, { labelSmoothing: smoothing, classWeights: w }) },
    });
    const ref = spawnSync('/usr/bin/python3', ['scripts/engine_cross_entropy_reference.py'], {
      input: JSON.stringify({ logits: chunk(logits, k), labels, weights: w, smoothing }),
      encoding: 'utf8',
    });
    assert.equal(ref.status, 0, ref.stderr);
    const expected = JSON.parse(ref.stdout) as { loss: number; grad: number[] };
    assert.ok(Math.abs((out.loss.data as Float32Array)[0] - expected.loss) < 1e-5 * Math.max(1, expected.loss), `loss (smoothing ${smoothing})`);
    const dz = out.dz.data as Float32Array;
    expected.grad.forEach((v, i) => assert.ok(Math.abs(dz[i] - v) < 1e-6, `grad[${i}] ${dz[i]} vs ${v} (smoothing ${smoothing})`));
    await s.release();
  }
});

test('ONNX files parse back into a graph that runs identically', async () => {
  const spec = getModel('resnet18');
  const probe = buildInferenceGraph(spec, { batch: -1, numClasses: 5, inputSize: 64 });
  const params = initParams(probe.params, 1);
  const original = buildInferenceGraph(spec, { batch: -1, numClasses: 5, inputSize: 64, constants: params, metadata: { classes: 'a,b' } });
  const imported = importGraph(original.bytes);
  assert.equal(imported.metadata.classes, 'a,b');
  assert.deepEqual(imported.graph.shape(IO.logits), [-1, 5]);
  const again = serializeModel(imported.graph);
  const rng = new Random(2);
  const images = { dtype: 'float32' as const, shape: [2, 3, 64, 64], data: Float32Array.from({ length: 2 * 3 * 64 * 64 }, () => rng.normal()) };
  const a = await (await Session.create(original.bytes, { threads: 1 })).run({ [IO.images]: images });
  const b = await (await Session.create(again, { threads: 1 })).run({ [IO.images]: images });
  assert.deepEqual(Array.from(b[IO.logits].data as Float32Array), Array.from(a[IO.logits].data as Float32Array));
});

function chunk(xs: number[], k: number): number[][] {
  return Array.from({ length: xs.length / k }, (_, i) => xs.slice(i * k, i * k + k));
}
