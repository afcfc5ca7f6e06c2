import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, IO } from '../src/graphs/network-graph.js';
import { getModel } from '../src/models/registry.js';

const spec = getModel('mobilenet_v2_offline');
const root = 'assets/fashion-mnist-mini';

/** Decodes a PNG to the backbone's input: 224x224 RGB scaled to [0, 1], NCHW. */
async function load(path: string, out: Float32Array, offset: number): Promise<void> {
  const { data } = await sharp(path).resize(224, 224, { kernel: 'linear' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const hw = 224 * 224;
  for (let i = 0; i < hw; i++) for (let c = 0; c < 3; c++) out[offset + c * hw + i] = data[i * 3 + c] / 255;
}

async function features(session: Session, files: string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < files.length; s += 16) {
    const chunk = files.slice(s, s + 16);
    const images = new Float32Array(chunk.length * 3 * 224 * 224);
    await Promise.all(chunk.map((f, i) => load(f, images, i * 3 * 224 * 224)));
    const r = await session.run({ [IO.images]: { dtype: 'float32', shape: [chunk.length, 3, 224, 224], data: images } });
    const f = r[IO.features].data as Float32Array;
    for (let i = 0; i < chunk.length; i++) out.push(f.slice(i * spec.featureDim, (i + 1) * spec.featureDim));
  }
  return out;
}

function split(name: 'train' | 'val', perClass: number) {
  const classes = readdirSync(join(root, name)).sort();
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, k) => {
    for (const f of readdirSync(join(root, name, c))
      .sort()
      .slice(0, perClass)) {
      files.push(join(root, name, c, f));
      labels.push(k);
    }
  });
  return { files, labels, classes };
}

test('offline backbone: loads with no network, deterministic features, a linear head on them separates real Fashion-MNIST classes', async () => {
  const params = await spec.builtinWeights!.load();
  const graph = buildInferenceGraph(spec, { batch: -1, numClasses: 1, featuresOnly: true, constants: params });
  assert.deepEqual(graph.fed, [], 'every backbone parameter comes from the bundled weights');
  const session = await Session.create(graph.bytes, { threads: 2 });
  const train = split('train', 30);
  const val = split('val', 10);
  const ftrain = await features(session, train.files);
  const again = await features(session, train.files.slice(0, 2));
  assert.deepEqual(Array.from(again[0]), Array.from(ftrain[0]), 'same image, same features');
  assert.ok(ftrain.every((f) => f.every(Number.isFinite)));
  const fval = await features(session, val.files);
  await session.release();

  // Softmax regression on standardised features, plain gradient descent.
  const d = spec.featureDim;
  const k = train.classes.length;
  const mean = new Float64Array(d);
  const std = new Float64Array(d);
  for (const f of ftrain) for (let j = 0; j < d; j++) mean[j] += f[j] / ftrain.length;
  for (const f of ftrain) for (let j = 0; j < d; j++) std[j] += (f[j] - mean[j]) ** 2 / ftrain.length;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) + 1e-6;
  const norm = (f: Float32Array) => Float64Array.from(f, (v, j) => (v - mean[j]) / std[j]);
  const xs = ftrain.map(norm);
  const w = new Float64Array(k * d);
  const logits = (x: Float64Array) => Array.from({ length: k }, (_, c) => x.reduce((s, v, j) => s + v * w[c * d + j], 0));
  for (let it = 0; it < 100; it++) {
    const grad = new Float64Array(k * d);
    xs.forEach((x, i) => {
      const z = logits(x);
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const sum = e.reduce((a, b) => a + b);
      for (let c = 0; c < k; c++) {
        const g = e[c] / sum - (c === train.labels[i] ? 1 : 0);
        for (let j = 0; j < d; j++) grad[c * d + j] += (g * x[j]) / xs.length;
      }
    });
    for (let j = 0; j < w.length; j++) w[j] -= 0.05 * (grad[j] + 1e-3 * w[j]);
  }
  let correct = 0;
  fval.forEach((f, i) => {
    const z = logits(norm(f));
    if (z.indexOf(Math.max(...z)) === val.labels[i]) correct++;
  });
  const acc = correct / fval.length;
  assert.ok(acc >= 0.7, `val accuracy ${acc.toFixed(3)} on ${k} classes (chance ${(1 / k).toFixed(2)})`);
});
