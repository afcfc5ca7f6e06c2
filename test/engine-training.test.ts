import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { Session } from '../src/engine/session.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { SGD } from '../src/optim/sgd.js';
import { Random, randomInt } from '../src/random.js';
import { smallCnn } from './small-cnn.js';

/** Synthetic task: 4 classes, the class is the quadrant that holds a bright blob (plus noise). */
function makeTask(n: number, seed: number) {
  const rng = new Random(seed);
  const images = new Float32Array(n * 3 * 8 * 8);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = randomInt(rng, 0, 4);
    labels[i] = y;
    const [qy, qx] = [Math.floor(y / 2) * 4, (y % 2) * 4];
    for (let c = 0; c < 3; c++) {
      for (let h = 0; h < 8; h++) {
        for (let w = 0; w < 8; w++) {
          const inside = h >= qy && h < qy + 4 && w >= qx && w < qx + 4;
          images[((i * 3 + c) * 8 + h) * 8 + w] = (inside ? 1 : 0) + rng.normal() * 0.5;
        }
      }
    }
  }
  return { images, labels };
}

test('a small CNN learns a synthetic task to >= 95% held-out accuracy', async () => {
  const batch = 16;
  const graph = buildTrainingGraph(smallCnn, { batch, numClasses: 4, trainable: () => true });
  const params = initParams(graph.params, 3);
  const session = await TrainingSession.create(graph, params, { threads: 1 });
  const sgd = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 0.05, momentum: 0.9 });
  const train = makeTask(512, 1);
  const sampleSize = 3 * 8 * 8;
  let firstLoss = 0;
  let lastLoss = 0;
  for (let epoch = 0; epoch < 4; epoch++) {
    for (let s = 0; s + batch <= 512; s += batch) {
      const images = train.images.subarray(s * sampleSize, (s + batch) * sampleSize);
      const r = await session.step(images, crossEntropyCoefficients(train.labels.subarray(s, s + batch), 4));
      if (epoch === 0 && s === 0) firstLoss = r.loss;
      lastLoss = r.loss;
      assert.ok(Number.isFinite(r.loss));
      sgd.step(r.grads);
    }
  }
  await session.release();
  assert.ok(lastLoss < firstLoss / 4, `loss went from ${firstLoss} to ${lastLoss}`);

  // Held-out accuracy with the eval graph (running statistics), dynamic batch.
  const test = makeTask(256, 2);
  const evalGraph = buildInferenceGraph(smallCnn, { batch: -1, numClasses: 4 });
  const evalSession = await Session.create(evalGraph.bytes, { threads: 1 });
  const feeds = Object.fromEntries(evalGraph.params.map((p) => [p.name, params.get(p.name)!]));
  const out = await evalSession.run({ ...feeds, [IO.images]: { dtype: 'float32', shape: [256, 3, 8, 8], data: test.images } });
  const logits = out[IO.logits].data as Float32Array;
  let correct = 0;
  for (let i = 0; i < 256; i++) {
    const row = Array.from(logits.subarray(i * 4, i * 4 + 4));
    if (row.indexOf(Math.max(...row)) === test.labels[i]) correct++;
  }
  await evalSession.release();
  assert.ok(correct / 256 >= 0.95, `held-out accuracy ${(correct / 256).toFixed(3)}`);
});

test('memory is steady: 500 training steps do not grow RSS by more than 64 MiB after warm-up', async () => {
  const batch = 8;
  const graph = buildTrainingGraph(smallCnn, { batch, numClasses: 4, trainable: () => true });
  const params = initParams(graph.params, 4);
  const session = await TrainingSession.create(graph, params, { threads: 1 });
  const sgd = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 0.01, momentum: 0.9 });
  const data = makeTask(batch, 5);
  const targets = crossEntropyCoefficients(data.labels, 4);
  let baseline = 0;
  for (let s = 0; s < 500; s++) {
    const r = await session.step(data.images, targets);
    sgd.step(r.grads);
    if (s === 49) {
      global.gc?.();
      baseline = process.memoryUsage().rss;
    }
  }
  global.gc?.();
  const growth = process.memoryUsage().rss - baseline;
  await session.release();
  assert.ok(growth < 64 * 2 ** 20, `RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB over 450 steps`);
});
