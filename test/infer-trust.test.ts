/**
 * A trained model.onnx carries its calibration, its "unknown" threshold and a self-check:
 * the graph (with the temperature, `score` and `unknown` outputs) passes the official ONNX
 * checker, `verify` reproduces it in onnxruntime-node and in onnxruntime-web in Chromium,
 * and fails naming what differs on a tampered preprocessing or a runtime fed another
 * mean/std; predict.mjs (plain onnxruntime-node) reproduces the recorded outputs.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import onnxProto from 'onnx-proto';
import { evaluate } from '../src/infer/evaluate.js';
import { readClassifier } from '../src/infer/model-file.js';
import { predict, type PredictResult } from '../src/infer/predict.js';
import { formatPredictionsTable, predictionJsonLines } from '../src/infer/format-predictions.js';
import { verifyClassifier } from '../src/infer/verification.js';
import { chromiumPath, verifyClassifierInBrowser } from '../src/infer/verify-browser.js';
import { softmax } from '../src/metrics/classification.js';
import { unknownScores } from '../src/metrics/rejection.js';
import { Random } from '../src/random.js';
import { train, type TrainResult } from '../src/train/train.js';
import { greyImages, makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';
import { Session } from '../src/engine/session.js';
import { findAll, parseXml } from './report-xml.js';

const PY = '/usr/bin/python3';
const onnxMissing = spawnSync(PY, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0 ? false : 'needs Debian python3-onnx at /usr/bin/python3 (apt-get install python3-onnx)';
const chromiumMissing = existsSync(chromiumPath()) ? false : `needs Chromium at ${chromiumPath()} (apt-get install chromium)`;

let root: string;
let run: TrainResult;
// Inside the repository, so that predict.mjs resolves onnxruntime-node and sharp from node_modules.
const snippetRoot = resolve('runs');

before(async () => {
  root = await makeColourDataset({ train: 12, val: 8 });
  mkdirSync(snippetRoot, { recursive: true });
  const out = await mkdtemp(join(snippetRoot, 'test-trust-'));
  run = await train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 3, lr: 0.05, threads: 1, out });
});

after(() => {
  if (run?.out.startsWith(snippetRoot)) rmSync(run.out, { recursive: true, force: true });
});

test('model.onnx stores the temperature, the threshold and the self-check, and its extra outputs agree with the metrics', async () => {
  const file = await readClassifier(run.modelPath!);
  const m = file.metadata;
  assert.deepEqual(file.outputNames, ['logits', 'probabilities', 'score', 'unknown']);
  assert.ok(m.calibration && m.calibration.temperature > 0 && m.calibration.images === 24);
  assert.ok(m.calibration.eceAfter <= m.calibration.eceBefore + 1e-12, `ECE ${m.calibration.eceBefore} -> ${m.calibration.eceAfter}`);
  assert.ok(m.calibration.nllAfter <= m.calibration.nllBefore + 1e-12);
  assert.equal(m.rejection?.method, 'reject-rate');
  assert.equal(m.rejection?.score, 'mahalanobis'); // the default (bench:trust); its graph is checked against float64 in infer-feature-distance.test.ts
  assert.equal(m.rejection.featureDistance?.dim, 8);
  assert.ok(m.rejection.valRejected <= 0.05);
  assert.equal(file.verification?.samples.length, 3);
  assert.deepEqual(new Set(file.verification.samples.map((s) => s.label)), new Set(['blue', 'green', 'red']));
  // The graph's outputs against the same computation in JS on its own logits.
  const session = await Session.create(file.bytes, { threads: 1 });
  const n = 4;
  const rng = new Random(7);
  const x = Float32Array.from({ length: n * 3 * 16 * 16 }, () => rng.normal());
  const r = await session.run({ images: { dtype: 'float32', shape: [n, 3, 16, 16], data: x } });
  await session.release();
  const logits = r.logits.data as Float32Array;
  const T = m.calibration.temperature;
  const want = softmax(
    Float32Array.from(logits, (v) => v / T),
    3,
  );
  const got = r.probabilities.data as Float32Array;
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, `probability ${i}: ${got[i]} vs ${want[i]}`);
  for (let i = 0; i < n; i++) {
    assert.ok(Number(r.score.data[i]) <= 0, 'minus a distance');
    assert.equal(Boolean(r.unknown.data[i]), Number(r.score.data[i]) < m.rejection.threshold);
  }
  assert.ok(existsSync(join(run.out, 'reliability.svg')) && existsSync(join(run.out, 'reliability.png')));
  const html = readFileSync(join(run.out, 'report.html'), 'utf8');
  assert.match(html, /Calibration and unknown answers[\s\S]*reliability diagram/);
  const doc = parseXml(html);
  assert.equal(findAll(doc, (e) => e.name === 'table' && e.attrs.class === 'calibration').length, 1);
});

test('the exported graph passes the official ONNX checker (full check)', { skip: onnxMissing }, () => {
  const p = spawnSync(PY, ['-c', 'import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); print([o.name for o in m.graph.output])', run.modelPath!], {
    encoding: 'utf8',
  });
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stdout, /'logits', 'probabilities', 'score', 'unknown'/);
});

test('verify passes on the untouched model, and names the difference for a runtime fed another mean/std', async () => {
  const ok = await verifyClassifier(run.modelPath!, { threads: 1 });
  assert.equal(ok.samples, 3);
  assert.ok(ok.maxDifference <= 1e-4);
  await assert.rejects(verifyClassifier(run.modelPath!, { mean: [0.45, 0.5, 0.5], threads: 1 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'E_VERIFY_MISMATCH');
    assert.match(e.message, /preprocessed input differs: channel 0 mean/);
    assert.match(e.message, /mean \[0\.45, 0\.5, 0\.5\]/);
    return true;
  });
  await assert.rejects(verifyClassifier(run.modelPath!, { std: [0.25, 0.25, 0.3], threads: 1 }), /channel 2 (mean|std)/);
});

test('verify fails naming the field on a model whose stored preprocessing was tampered with', async () => {
  const { onnx } = onnxProto;
  const model = onnx.ModelProto.decode(await readFile(run.modelPath!));
  const prop = model.metadataProps.find((p) => p.key === 'headstart')!;
  const meta = JSON.parse(prop.value!) as { preprocess: { mean: number[] } };
  meta.preprocess.mean = [0.485, 0.456, 0.406];
  prop.value = JSON.stringify(meta);
  const tampered = join(await tempDir(), 'tampered.onnx');
  await writeFile(tampered, onnx.ModelProto.encode(model).finish());
  await assert.rejects(verifyClassifier(tampered, { threads: 1 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'E_VERIFY_MISMATCH');
    assert.match(e.message, /stored preprocessing differs[^]*`mean` is \[0\.485,0\.456,0\.406\], recorded \[0\.5,0\.5,0\.5\]/);
    return true;
  });
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'verify', tampered], { encoding: 'utf8' });
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /error: .*`mean` is/);
});

test('verify --browser reproduces the model in onnxruntime-web (Chromium) to 1e-4', { skip: chromiumMissing }, async () => {
  const r = await verifyClassifierInBrowser(run.modelPath!);
  assert.equal(r.runtime, 'onnxruntime-web (Chromium)');
  assert.ok(r.maxDifference <= 1e-4, `largest difference ${r.maxDifference}`);
});

test('predict.mjs (plain onnxruntime-node + sharp, under 40 lines) reproduces the recorded outputs', async () => {
  const snippet = join(run.out, 'predict.mjs');
  const lines = readFileSync(snippet, 'utf8').trimEnd().split('\n').length;
  assert.ok(lines < 40, `predict.mjs has ${lines} lines`);
  const file = await readClassifier(run.modelPath!);
  const samples = file.verification!.samples;
  const pngs = samples.map((s, i) => {
    const path = join(run.out, `sample-${i}.png`);
    writeFileSync(path, Buffer.from(s.png, 'base64'));
    return path;
  });
  const p = spawnSync(process.execPath, [snippet, ...pngs], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const rows = p.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { guess: string; unknown: boolean; probabilities: Record<string, number> });
  assert.equal(rows.length, samples.length);
  rows.forEach((row, i) => {
    for (const t of samples[i].top) assert.ok(Math.abs(row.probabilities[file.metadata.classes[t.index]] - t.probability) <= 1e-4);
    assert.equal(row.guess, file.metadata.classes[samples[i].top[0].index]);
    assert.equal(row.unknown, samples[i].unknown);
  });
});

test('--unknown-dir sets the threshold against images of none of the classes; evaluate and predict report them', async () => {
  const unknownTrain = join(await tempDir(), 'other');
  const unknownTest = join(await tempDir(), 'other');
  await greyImages(unknownTrain, 12, 5);
  await greyImages(unknownTest, 12, 6);
  const out = await tempDir();
  const r = await train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 3, lr: 0.05, threads: 1, out, unknownDir: unknownTrain, unknownScore: 'energy', verifySamples: 0 });
  const file = await readClassifier(r.modelPath!);
  const rej = file.metadata.rejection!;
  assert.equal(rej.method, 'unknown-dir');
  assert.equal(rej.score, 'energy');
  // The graph's energy score against T * logsumexp(logits / T) computed in JS.
  const session = await Session.create(file.bytes, { threads: 1 });
  const rng = new Random(9);
  const x = Float32Array.from({ length: 3 * 3 * 16 * 16 }, () => rng.normal());
  const res = await session.run({ images: { dtype: 'float32', shape: [3, 3, 16, 16], data: x } });
  await session.release();
  const energy = unknownScores(res.logits.data as Float32Array, 3, 'energy', file.metadata.calibration!.temperature);
  for (let i = 0; i < 3; i++) {
    assert.ok(Math.abs(Number(res.score.data[i]) - energy[i]) < 1e-4 * Math.max(1, Math.abs(energy[i])), `energy ${Number(res.score.data[i])} vs ${energy[i]}`);
    if (Math.abs(energy[i] - rej.threshold) > 1e-4) assert.equal(Boolean(res.unknown.data[i]), energy[i] < rej.threshold);
  }
  assert.equal(rej.unknownImages, 12);
  assert.ok(rej.auroc !== undefined && rej.auroc >= 0 && rej.auroc <= 1);
  assert.equal(file.verification, undefined);
  const e = await evaluate(r.modelPath!, root, { unknownDir: unknownTest, threads: 1 });
  assert.equal(e.rejection?.unknownImages, 12);
  assert.ok(e.rejection.auroc >= 0 && e.rejection.auroc <= 1);
  assert.equal(e.rejection.threshold, rej.threshold);
  const p = await predict(r.modelPath!, unknownTest, { threads: 1 });
  const rejected = p.predictions.filter((x) => x.unknown).length;
  assert.equal(rejected / p.predictions.length, e.rejection.unknownRejected);
});

test('predict shows "unknown" with the best guess beside it (table) and the flag and score (JSON lines)', () => {
  const result = {
    model: { model: 'm' },
    classes: ['cat', 'dog'],
    tta: false,
    seconds: 0,
    skipped: [],
    predictions: [
      { path: 'a.png', id: 'a', top: [{ index: 0, label: 'cat', probability: 0.55 }], probabilities: [0.55, 0.45], unknown: true, score: 0.55 },
      { path: 'b.png', id: 'b', top: [{ index: 1, label: 'dog', probability: 0.97 }], probabilities: [0.03, 0.97], unknown: false, score: 0.97 },
    ],
  } as unknown as PredictResult;
  const table = formatPredictionsTable(result);
  assert.match(table, /a\.png\s+unknown \(best guess cat 55\.0%\)/);
  assert.match(table, /b\.png\s+dog 97\.0%/);
  const lines = predictionJsonLines(result.predictions)
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { unknown: boolean; score: number });
  assert.deepEqual(
    lines.map((l) => [l.unknown, l.score]),
    [
      [true, 0.55],
      [false, 0.97],
    ],
  );
});
