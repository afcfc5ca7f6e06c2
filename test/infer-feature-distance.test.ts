/**
 * The mahalanobis "unknown" score (src/metrics/feature-distance.ts, in the graph through
 * src/graphs/calibrated-outputs.ts): the fit against numpy (sklearn's Ledoit-Wolf formula and
 * a direct solve with the shrunk covariance), the graph's score against the float64
 * recomputation, `unknown` flipping exactly at the threshold, and the whole path through
 * train (fine-tuning and feature extraction), evaluate, verify and predict --format csv.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildInferenceGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { networkParamDefs } from '../src/graphs/network-params.js';
import { Session } from '../src/engine/session.js';
import { evaluate } from '../src/infer/evaluate.js';
import { kaggleCsv } from '../src/infer/kaggle-csv.js';
import { predictionCsvRows, predictionsCsv, predictionsCsvHeader } from '../src/infer/format-predictions.js';
import { classifierBytes, readClassifier } from '../src/infer/model-file.js';
import { predict } from '../src/infer/predict.js';
import { verifyClassifier } from '../src/infer/verification.js';
import { chromiumPath, verifyClassifierInBrowser } from '../src/infer/verify-browser.js';
import { featureDistanceScores, fitFeatureDistance, outOfFoldUnknownScores } from '../src/metrics/feature-distance.js';
import { unknownScores } from '../src/metrics/rejection.js';
import { Random } from '../src/random.js';
import { train } from '../src/train/train.js';
import { greyImages, makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

const PY = '/usr/bin/python3';
const onnxMissing = spawnSync(PY, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0 ? false : 'needs Debian python3-onnx';
const chromiumMissing = existsSync(chromiumPath()) ? false : `needs Chromium at ${chromiumPath()}`;
const numpyMissing = spawnSync(PY, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0 ? false : 'needs numpy for /usr/bin/python3 (Debian python3-numpy)';

/** Gaussian rows around k well-separated means, [n, d]. */
function gaussianRows(n: number, d: number, k: number, seed: number): { x: Float64Array; labels: Int32Array } {
  const rng = new Random(seed);
  const means = Array.from({ length: k }, () => Array.from({ length: d }, () => 2 + 3 * rng.next()));
  const x = new Float64Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % k;
    for (let j = 0; j < d; j++) x[i * d + j] = means[labels[i]][j] + (0.3 + 0.2 * (j % 3)) * rng.normal();
  }
  return { x, labels };
}

test("the fitted distance matches numpy: sklearn's Ledoit-Wolf shrinkage and a direct solve with the shrunk covariance", { skip: numpyMissing }, () => {
  const [n, d, k] = [30, 12, 3];
  const train = gaussianRows(n, d, k, 1);
  const probe = gaussianRows(7, d, k, 2).x;
  const model = fitFeatureDistance(train.x, train.labels, k, d);
  const ours = featureDistanceScores(model, probe);
  const script = `
import json, sys, numpy as np
a = json.load(sys.stdin)
X = np.array(a['x']).reshape(-1, a['d']); y = np.array(a['labels']); P = np.array(a['probe']).reshape(-1, a['d'])
U = X / np.sqrt((X ** 2).sum(1, keepdims=True) + 1e-12); V = P / np.sqrt((P ** 2).sum(1, keepdims=True) + 1e-12)
mu = np.stack([U[y == c].mean(0) for c in range(a['k'])])
R = U - mu[y]
# sklearn.covariance.ledoit_wolf_shrinkage(R, assume_centered=True)
n, p = R.shape
X2 = R ** 2
tr = X2.sum(0) / n
m = tr.sum() / p
beta_ = np.sum(X2.T @ X2)
delta_ = np.sum((R.T @ R) ** 2) / n ** 2
beta = 1.0 / (p * n) * (beta_ / n - delta_)
delta = (delta_ - 2.0 * m * tr.sum() + p * m ** 2) / p
beta = min(beta, delta)
s = 0 if beta == 0 else beta / delta
S = (1 - s) * (R.T @ R / n) + s * m * np.eye(p) + 1e-9 * m * np.eye(p)
d = np.array([[np.sqrt((v - mu[c]) @ np.linalg.solve(S, v - mu[c])) for c in range(a['k'])] for v in V])
print(json.dumps({'shrinkage': s, 'scores': (-d.min(1)).tolist()}))
`;
  const p = spawnSync(PY, ['-c', script], { input: JSON.stringify({ x: Array.from(train.x), labels: Array.from(train.labels), probe: Array.from(probe), d, k }), encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  const ref = JSON.parse(p.stdout) as { shrinkage: number; scores: number[] };
  assert.ok(Math.abs(model.shrinkage - ref.shrinkage) < 1e-10, `shrinkage ${model.shrinkage} vs ${ref.shrinkage}`);
  assert.ok(model.shrinkage > 0 && model.shrinkage < 1);
  ref.scores.forEach((s, i) => assert.ok(Math.abs(ours[i] - s) < 1e-8 * Math.max(1, Math.abs(s)), `score ${i}: ${ours[i]} vs ${s}`));
});

test('with --unknown-dir rows the fit matches numpy: their own centre in the shared Ledoit-Wolf covariance, score d_u^2 - min_c d_c^2', { skip: numpyMissing }, () => {
  const [n, d, k] = [36, 10, 3];
  // Probes: 5 more rows like the classes', then 5 more like the unknown rows (same means).
  const drawn = gaussianRows(n + 5, d, k, 3);
  const train = { x: drawn.x.slice(0, n * d), labels: drawn.labels.slice(0, n) };
  const others = gaussianRows(19, d, 1, 4).x;
  const other = others.slice(0, 14 * d);
  const probe = Float64Array.from([...drawn.x.subarray(n * d), ...others.subarray(14 * d)]);
  const model = fitFeatureDistance(train.x, train.labels, k, d, { unknown: other });
  assert.equal(model.unknownImages, 14);
  assert.equal(model.covarianceImages, 50);
  const ours = featureDistanceScores(model, probe);
  const script = `
import json, sys, numpy as np
a = json.load(sys.stdin)
nz = lambda A: A / np.sqrt((A ** 2).sum(1, keepdims=True) + 1e-12)
U = nz(np.array(a['x']).reshape(-1, a['d'])); y = np.array(a['labels']); O = nz(np.array(a['other']).reshape(-1, a['d'])); V = nz(np.array(a['probe']).reshape(-1, a['d']))
mu = np.stack([U[y == c].mean(0) for c in range(a['k'])]); mo = O.mean(0)
R = np.concatenate([U - mu[y], O - mo])
n, p = R.shape
S = R.T @ R / n
m = np.trace(S) / p
# sklearn.covariance.ledoit_wolf_shrinkage(R, assume_centered=True), written out
delta = ((S - m * np.eye(p)) ** 2).sum() / p
beta = min(delta, (((R ** 2).sum(1) ** 2).sum() / n - (S ** 2).sum()) / (n * p))
s = beta / delta
C = (1 - s) * S + s * m * np.eye(p) + 1e-9 * m * np.eye(p)
d2 = lambda v, c: (v - c) @ np.linalg.solve(C, v - c)
scores = [d2(v, mo) - min(d2(v, mu[c]) for c in range(a['k'])) for v in V]
print(json.dumps({'shrinkage': s, 'scores': scores}))
`;
  const p = spawnSync(PY, ['-c', script], {
    input: JSON.stringify({ x: Array.from(train.x), labels: Array.from(train.labels), other: Array.from(other), probe: Array.from(probe), d, k }),
    encoding: 'utf8',
  });
  assert.equal(p.status, 0, p.stderr);
  const ref = JSON.parse(p.stdout) as { shrinkage: number; scores: number[] };
  assert.ok(Math.abs(model.shrinkage - ref.shrinkage) < 1e-10, `shrinkage ${model.shrinkage} vs ${ref.shrinkage}`);
  ref.scores.forEach((s, i) => assert.ok(Math.abs(ours[i] - s) < 1e-7 * Math.max(1, Math.abs(s)), `score ${i}: ${ours[i]} vs ${s}`));
  // The probes drawn like the unknown rows score below those drawn like the classes.
  assert.ok(Math.max(...ours.slice(5)) < Math.min(...ours.slice(0, 5)), `scores ${Array.from(ours)}`);
});

test('outOfFoldUnknownScores: each unknown row is scored by a fit without it, which ranks it as less unknown than the fit with it', () => {
  const [d, k] = [6, 2];
  const train = gaussianRows(24, d, k, 7);
  const other = gaussianRows(8, d, 1, 8).x;
  const loo = outOfFoldUnknownScores(train.x, train.labels, k, d, other, { folds: 8 });
  const inSample = featureDistanceScores(fitFeatureDistance(train.x, train.labels, k, d, { unknown: other }), other);
  for (const r of [0, 5]) {
    const rest = Float64Array.from([...other.subarray(0, r * d), ...other.subarray((r + 1) * d)]);
    const alone = featureDistanceScores(fitFeatureDistance(train.x, train.labels, k, d, { unknown: rest }), other.subarray(r * d, (r + 1) * d))[0];
    assert.ok(Math.abs(loo[r] - alone) < 1e-9 * Math.max(1, Math.abs(alone)), `row ${r}: ${loo[r]} vs a fit without it ${alone}`);
  }
  for (let r = 0; r < 8; r++) assert.ok(loo[r] > inSample[r], `row ${r}: out of fold ${loo[r]}, in sample ${inSample[r]}`);
});

test('fitFeatureDistance refuses a class without training features', () => {
  const { x } = gaussianRows(6, 4, 2, 3);
  assert.throws(
    () => fitFeatureDistance(x, Int32Array.from([0, 0, 0, 0, 0, 0]), 2, 4),
    (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT' && /class 1 has no training features/.test(e.message),
  );
});

/** The next float32 above x. */
function nextFloat32Up(x: number): number {
  const f = new Float32Array([x]);
  const i = new Int32Array(f.buffer);
  if (x === 0) return 1.401298464324817e-45;
  i[0] += x > 0 ? 1 : -1;
  return f[0];
}

test("the graph's mahalanobis score equals the float64 recomputation (1e-4), and `unknown` flips exactly at the threshold", async () => {
  const k = 3;
  const defs = networkParamDefs(tinySpec, k);
  const params = initParams(defs, 4);
  const rng = new Random(5);
  const n = 24;
  const size = 16;
  const images = Float32Array.from({ length: n * 3 * size * size }, () => rng.normal());
  const featureGraph = buildInferenceGraph(tinySpec, { batch: -1, numClasses: k, featuresOnly: true, constants: params });
  const fs = await Session.create(featureGraph.bytes, { threads: 1 });
  const features = (await fs.run({ images: { dtype: 'float32', shape: [n, 3, size, size], data: images } })).features.data as Float32Array;
  await fs.release();
  const dim = features.length / n;
  const labels = Int32Array.from({ length: n }, (_, i) => i % k);
  const model = fitFeatureDistance(features, labels, k, dim);
  const want = featureDistanceScores(model, features);
  const meta = (threshold: number) => ({
    model: tinySpec.name,
    classes: ['a', 'b', 'c'],
    preprocess: tinySpec.preprocess,
    mode: 'finetune' as const,
    rejection: { score: 'mahalanobis' as const, threshold, method: 'reject-rate' as const, rejectRate: 0.05, valRejected: 0 },
  });
  const run = async (threshold: number) => {
    const s = await Session.create(classifierBytes(tinySpec, params, meta(threshold), { featureDistance: model }).bytes, { threads: 1 });
    const r = await s.run({ images: { dtype: 'float32', shape: [n, 3, size, size], data: images } });
    await s.release();
    return { score: r.score.data as Float32Array, unknown: Array.from(r.unknown.data as ArrayLike<number>, Boolean) };
  };
  const a = await run(-1e9);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(a.score[i] - want[i]) <= 1e-4 * Math.max(1, Math.abs(want[i])), `image ${i}: graph ${a.score[i]}, float64 ${want[i]}`);
  // Fitted with unknown rows (the last 6 images as --unknown-dir): the graph's one [D, k] MatMul equals d_u^2 - min_c d_c^2 in float64.
  const withUnknown = fitFeatureDistance(features.subarray(0, 18 * dim), labels.subarray(0, 18), k, dim, { unknown: features.subarray(18 * dim) });
  assert.ok(withUnknown.unknownLinear);
  const wantRatio = featureDistanceScores(withUnknown, features);
  const rs = await Session.create(classifierBytes(tinySpec, params, meta(-1e9), { featureDistance: withUnknown }).bytes, { threads: 1 });
  const ratio = (await rs.run({ images: { dtype: 'float32', shape: [n, 3, size, size], data: images } })).score.data as Float32Array;
  await rs.release();
  for (let i = 0; i < n; i++) assert.ok(Math.abs(ratio[i] - wantRatio[i]) <= 1e-4 * Math.max(1, Math.abs(wantRatio[i])), `image ${i}: graph ${ratio[i]}, float64 ${wantRatio[i]}`);
  assert.ok(a.unknown.every((u) => !u));
  // The threshold at image 0's own (float32) score: accepted (score < threshold is false); one float32 step above: rejected.
  const s0 = a.score[0];
  const at = await run(s0);
  assert.equal(at.unknown[0], false);
  const above = await run(nextFloat32Up(s0));
  assert.equal(above.unknown[0], true);
  for (let i = 0; i < n; i++) {
    assert.equal(at.unknown[i], at.score[i] < s0);
    assert.equal(above.unknown[i], above.score[i] < nextFloat32Up(s0));
  }
  // The msp score of the same network: the top calibrated probability of its logits.
  const mspMeta = { ...meta(0.5), calibration: { temperature: 1.7, fittedOn: 'val', images: 1, eceBefore: 0, eceAfter: 0, nllBefore: 0, nllAfter: 0 } };
  mspMeta.rejection = { ...mspMeta.rejection, score: 'msp' as never };
  const ms = await Session.create(classifierBytes(tinySpec, params, mspMeta).bytes, { threads: 1 });
  const mr = await ms.run({ images: { dtype: 'float32', shape: [n, 3, size, size], data: images } });
  await ms.release();
  const msp = unknownScores(mr.logits.data as Float32Array, k, 'msp', 1.7);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(Number(mr.score.data[i]) - msp[i]) < 1e-5, `msp ${i}`);
  // Without its fitted distance, the mahalanobis score cannot be built.
  assert.throws(
    () => classifierBytes(tinySpec, params, meta(0)),
    (e: Error & { code?: string }) => e.code === 'E_BAD_OPTION' && /needs its fitted feature distance/.test(e.message),
  );
});

let root: string;
let unknownFit: string;
let unknownTest: string;
before(async () => {
  root = await makeColourDataset({ train: 10, val: 6 });
  unknownFit = join(await tempDir(), 'other');
  unknownTest = join(await tempDir(), 'other');
  await greyImages(unknownFit, 10, 5);
  await greyImages(unknownTest, 10, 6);
});

for (const mode of ['finetune', 'features'] as const) {
  test(`train --unknown-score mahalanobis (${mode}): stored in the graph; evaluate, verify and predict use it`, async () => {
    const out = await tempDir();
    const r = await train(root, {
      model: tinySpec,
      weights: 'none',
      mode,
      epochs: 2,
      lr: 0.05,
      threads: 1,
      out,
      unknownDir: unknownFit,
      unknownScore: 'mahalanobis',
      verifySamples: 2,
      cacheDir: join(out, 'cache'),
    });
    const file = await readClassifier(r.modelPath!);
    assert.deepEqual(file.outputNames, ['logits', 'probabilities', 'score', 'unknown']);
    const rej = file.metadata.rejection!;
    assert.equal(rej.score, 'mahalanobis');
    assert.equal(rej.method, 'unknown-dir');
    assert.equal(rej.featureDistance?.dim, 8);
    assert.equal(rej.featureDistance.trainImages, 30);
    // The --unknown-dir images got a centre of their own (the likelihood-ratio score).
    assert.equal(rej.featureDistance.unknownImages, 10);
    assert.ok(rej.auroc !== undefined);
    // The report names the score and its AUROC on val vs the unknown images.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<code>mahalanobis<\/code> score \(the squared Mahalanobis distance of the pooled features to the centre of the unknown images, minus that to the nearest class mean\)/);
    assert.match(html, /left each of them out \(5 folds\)/);
    assert.ok(html.includes(`AUROC of the mahalanobis score, val vs 10 unknown images</td><td>${rej.auroc.toFixed(4)}`));
    // The self-check records the score and `unknown`; verify reproduces them.
    assert.ok(file.verification!.samples.every((s) => typeof s.score === 'number' && typeof s.unknown === 'boolean'));
    const v = await verifyClassifier(r.modelPath!, { threads: 1 });
    assert.equal(v.samples, 2);
    // The val scores the threshold was set on (cached features, or the final weights' features) are the graph's.
    const e = await evaluate(r.modelPath!, root, { unknownDir: unknownTest, threads: 1 });
    assert.equal(e.rejection?.score, 'mahalanobis');
    assert.ok(Math.abs(e.rejection.knownAccepted! - (1 - rej.valRejected)) < 1e-12, `evaluate accepts ${e.rejection.knownAccepted}, training recorded ${1 - rej.valRejected}`);
    const p = await predict(r.modelPath!, unknownTest, { threads: 1, topK: 2 });
    assert.ok(p.predictions.every((x) => typeof x.unknown === 'boolean' && typeof x.score === 'number'));
    assert.equal(p.predictions.filter((x) => x.unknown).length / p.predictions.length, e.rejection.unknownRejected);
    // CSV: unknown and score on each rank row of an image.
    const rows = predictionsCsv(p).trimEnd().split('\n');
    assert.equal(rows[0], 'path,rank,label,probability,unknown,score');
    assert.equal(rows.length, 1 + 2 * p.predictions.length);
    const first = p.predictions[0];
    for (const row of rows.slice(1, 3)) assert.ok(row.endsWith(`,${String(first.unknown)},${first.score!.toPrecision(7)}`), row);
    if (mode === 'features') {
      // The graph with the likelihood-ratio score: the official ONNX checker, and onnxruntime-web in Chromium.
      if (!onnxMissing) {
        const c = spawnSync(PY, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', r.modelPath!], { encoding: 'utf8' });
        assert.equal(c.status, 0, c.stderr);
      }
      if (!chromiumMissing) {
        const b = await verifyClassifierInBrowser(r.modelPath!);
        assert.ok(b.maxDifference <= 1e-4, `onnxruntime-web differs by ${b.maxDifference}`);
      }
    }
  });
}

test('predict --format csv adds unknown and score for a model with a threshold, jsonl carries them, --kaggle is unchanged', async () => {
  const out = await tempDir();
  const r = await train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 1, lr: 0.05, threads: 1, out, unknownScore: 'energy', rejectRate: 0.2, verifySamples: 0 });
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'predict', r.modelPath!, unknownTest, '--threads', '1', '--top-k', '1', ...args], { encoding: 'utf8' });
  const csv = cli(['--format', 'csv']);
  assert.equal(csv.status, 0, csv.stderr);
  const lines = csv.stdout.trimEnd().split('\n');
  assert.equal(lines[0], 'path,rank,label,probability,unknown,score');
  assert.equal(lines.length, 11);
  for (const l of lines.slice(1)) assert.match(l, /,(true|false),-?\d+\.\d+(e[-+]\d+)?$/);
  const jsonl = cli(['--format', 'jsonl']);
  assert.equal(jsonl.status, 0, jsonl.stderr);
  const objs = jsonl.stdout
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as { unknown: boolean; score: number });
  assert.equal(objs.length, 10);
  assert.ok(objs.every((o) => typeof o.unknown === 'boolean' && typeof o.score === 'number'));
  // The same rows as the CSV (streamed) gives.
  lines.slice(1).forEach((l, i) => assert.ok(l.endsWith(`,${objs[i].unknown},${objs[i].score.toPrecision(7)}`)));
  // A model without a threshold keeps the four columns; the Kaggle submission stays id,label.
  assert.equal(predictionsCsvHeader(false), 'path,rank,label,probability\n');
  assert.equal(predictionCsvRows([{ path: 'a.png', top: [{ index: 0, label: 'red', probability: 0.5 }] } as never]), 'a.png,1,red,0.500000\n');
  const kaggle = kaggleCsv([{ path: '7.jpg', id: '7', top: [], probabilities: [0.2, 0.8], unknown: true, score: -3 }], ['cat', 'dog']);
  assert.equal(kaggle, 'id,label\n7,0.800000\n');
});
