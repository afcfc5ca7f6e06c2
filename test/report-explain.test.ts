/**
 * The report that explains the model: top losses, most confused pairs, per-class accuracy
 * with Wilson intervals, the per-batch learning rate and loss, the augmentation preview,
 * report.json and MODEL_CARD.md — from the pure functions up to a real run's folder. The
 * card's Python preprocessing is run with Pillow and must give headstart's eval tensor.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvalTransform } from '../src/data/build-transforms.js';
import { decodeImage } from '../src/data/decode.js';
import { wilsonInterval } from '../src/metrics/classification.js';
import { mostConfused } from '../src/metrics/most-confused.js';
import { perClassAccuracy } from '../src/metrics/per-class-accuracy.js';
import { topLosses } from '../src/metrics/top-losses.js';
import { Random } from '../src/random.js';
import { smoothLoss } from '../src/report/batch-curves.js';
import { train } from '../src/train/train.js';
import { float32s, meanAbsDiff, tempDir as dataTemp, torchvisionMissing, writeImage } from './data-fixtures.js';
import { findAll, parseXml, textOf } from './report-xml.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('topLosses: -log p(true) from the logits, highest first, with the predicted class and its probability', () => {
  const logits = Float32Array.from([2, 0, 0, 0, 3, 0, 0, 0, 0.5, 1, 1, 0]);
  const labels = [0, 2, 2, 0];
  const t = topLosses(logits, labels, 3, 4);
  const lse = (r: number) => Math.log([0, 1, 2].reduce((s, c) => s + Math.exp(logits[r * 3 + c]), 0));
  const want = labels.map((y, r) => lse(r) - logits[r * 3 + y]);
  assert.deepEqual(
    t.map((x) => x.index),
    [1, 3, 2, 0],
  );
  for (const x of t) {
    assert.ok(Math.abs(x.loss - want[x.index]) < 1e-6);
    assert.ok(Math.abs(x.trueProbability - Math.exp(-want[x.index])) < 1e-6);
  }
  assert.equal(t[0].predicted, 1);
  assert.ok(Math.abs(t[0].probability - Math.exp(3 - lse(1))) < 1e-6);
  assert.equal(topLosses(logits, labels, 3, 2).length, 2);
});

test('mostConfused and perClassAccuracy read the confusion matrix; intervals are Wilson intervals', () => {
  const confusion = [
    [5, 3, 0],
    [1, 7, 2],
    [0, 3, 0],
  ];
  assert.deepEqual(
    mostConfused(confusion).map((p) => [p.actual, p.predicted, p.count]),
    [
      [2, 1, 3],
      [0, 1, 3],
      [1, 2, 2],
      [1, 0, 1],
    ],
  );
  assert.equal(mostConfused(confusion, { minCount: 3 }).length, 2);
  const pc = perClassAccuracy(confusion);
  assert.deepEqual(
    pc.map((c) => [c.correct, c.total]),
    [
      [5, 8],
      [7, 10],
      [0, 3],
    ],
  );
  assert.deepEqual(pc[1].interval, wilsonInterval(7, 10));
  assert.equal(
    perClassAccuracy([
      [0, 0],
      [1, 1],
    ])[0].interval,
    null,
  );
  // fastai's debiased EMA: the first value is the first loss; a constant stays constant.
  assert.deepEqual(
    smoothLoss([2, 2, 2]).map((v) => Number(v.toFixed(12))),
    [2, 2, 2],
  );
  assert.ok(Math.abs(smoothLoss([1, 3])[1] - (0.98 * 0.02 * 1 + 0.02 * 3) / (1 - 0.98 ** 2)) < 1e-12);
});

test('a run writes report.html with the explaining sections, report.json with the same data, and MODEL_CARD.md', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const out = await tempDir();
  const r = await train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 2, lr: 0.05, batchSize: 4, threads: 1, augment: 'trivial', mixup: 0.2, out });
  const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  // Top losses: every val image (9 < 24), highest first.
  assert.equal(json.topLosses.length, 9);
  for (let i = 1; i < json.topLosses.length; i++) assert.ok(json.topLosses[i - 1].loss >= json.topLosses[i].loss);
  for (const t of json.topLosses) assert.ok(Math.abs(t.loss + Math.log(t.trueProbability)) < 1e-5);
  // Per batch: 18 train images at batch 4 = 5 steps per epoch, each with its loss and lr.
  assert.equal(json.batches.length, 10);
  assert.deepEqual(
    json.batches.map((b: { epoch: number; batch: number }) => `${b.epoch}.${b.batch}`),
    ['1.1', '1.2', '1.3', '1.4', '1.5', '2.1', '2.2', '2.3', '2.4', '2.5'],
  );
  for (const b of json.batches) assert.ok(b.lr === 0.05 && Number.isFinite(b.loss) && b.loss > 0);
  // Per class: counts add up to the val set; intervals contain the estimate.
  assert.equal(
    json.perClass.reduce((s: number, c: { total: number }) => s + c.total, 0),
    9,
  );
  for (const c of json.perClass) assert.ok(c.lower <= c.estimate && c.estimate <= c.upper);
  const correct = json.perClass.reduce((s: number, c: { correct: number }) => s + c.correct, 0);
  assert.equal(correct, r.metrics!.accuracy.correct);
  assert.equal(
    json.confused.reduce((s: number, c: { count: number }) => s + c.count, 0),
    9 - correct,
  );
  assert.deepEqual(
    json.augmentation.images.map((i: { views: number }) => i.views),
    [16, 16],
  );
  assert.match(json.augmentation.pipeline, /TrivialAugmentWide/);
  assert.match(json.notes[0], /dominant label/);

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  const doc = parseXml(html);
  const h2 = findAll(doc, (e) => e.name === 'h2').map(textOf);
  for (const s of ['Top losses', 'Most confused pairs', 'Accuracy per class', 'Learning rate and loss per batch', 'Augmentation preview'])
    assert.ok(h2.includes(s), `report.html has "${s}" (has: ${h2.join(', ')})`);
  const imgs = findAll(doc, (e) => e.name === 'img').filter((i) => i.attrs.src.startsWith('data:image/png;base64,'));
  assert.ok(imgs.length >= 9 + 2 * 17, `thumbnails and preview views are embedded (${imgs.length})`);

  const card = readFileSync(join(out, 'MODEL_CARD.md'), 'utf8');
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.ok(card.includes(config.data.sha256), 'the card carries the data fingerprint');
  for (const c of r.classes) assert.match(card, new RegExp(`\\| ${c} \\| 6 \\| 3 \\|`));
  assert.match(card, /Accuracy \*\*\d+\.\d\d%\*\* \(\d of 9\), 95% Wilson interval/);
  assert.match(card, /## Intended use and limits/);
  for (const s of ["from 'headstart'", "from 'onnxruntime-web'", 'onnxruntime as ort']) assert.ok(card.includes(s), `the card shows how to load the model (${s})`);
});

test("MODEL_CARD.md's Python preprocessing (Pillow) gives headstart's eval tensor", { skip: torchvisionMissing }, async () => {
  const root = await makeColourDataset({ train: 3, val: 1 });
  const out = await tempDir();
  await train(root, { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, out, cacheDir: await tempDir('cache-') });
  const card = readFileSync(join(out, 'MODEL_CARD.md'), 'utf8');
  const python = /```python\n([\s\S]*?)```/.exec(card)![1];
  // The preprocessing lines, with the metadata given instead of read by onnxruntime (not installed here).
  const lines = python.split('\n').filter((l) => /^(from PIL|img = |w, h, r, c|left, top|x = )/.test(l));
  const dir = dataTemp('card');
  const spec = { ...tinySpec.preprocess, inputSize: 24, resizeSize: 28, interpolation: 'bicubic' as const };
  const cases: [number, number][] = [
    [50, 37],
    [31, 64],
  ];
  for (const [i, [w, h]] of cases.entries()) {
    const path = join(dir, `${i}.png`);
    await writeImage(path, w, h, 60 + i, 'png');
    const script = [
      'import numpy as np',
      `p = ${JSON.stringify({ ...spec })}`,
      ...lines.map((l) => l.replace("'photo.jpg'", JSON.stringify(path))),
      `x.transpose(2, 0, 1).astype(np.float32).tofile(${JSON.stringify(join(dir, `${i}.bin`))})`,
    ].join('\n');
    writeFileSync(join(dir, `${i}.py`), script);
    const r = spawnSync('/usr/bin/python3', [join(dir, `${i}.py`)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // headstart's reference path (PIL's kernels in JS; the loader's libvips downscaling is within ~0.001 of it).
    const ours = buildEvalTransform(spec).tensorFromImage(await decodeImage(path), new Random(0));
    const d = meanAbsDiff(ours, float32s(readFileSync(join(dir, `${i}.bin`))));
    assert.ok(d.max < 1e-5, `${w}x${h}: the card's preprocessing differs from headstart's by ${d.max}`);
  }
});
