/**
 * predict / evaluate / model file / CLI output formats on a tiny network whose weights are
 * set by hand, so every probability is known in closed form: feature 0 is the mean of the
 * (normalised, ReLU'd) red channel, feature 1 the blue one, feature 2 the green one, and
 * each class's logit picks one feature. Images are solid colours (or a stripe, for TTA)
 * written with sharp.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { ConfigError, IOError, WeightsError } from '../src/errors.js';
import type { PreprocessSpec } from '../src/data/preprocess.js';
import { buildInferenceGraph } from '../src/graphs/network-graph.js';
import { evaluate } from '../src/infer/evaluate.js';
import { kaggleCsv } from '../src/infer/kaggle-csv.js';
import { classifierBytes, readClassifier, readClassifierMetadataFromBytes, writeClassifier } from '../src/infer/model-file.js';
import { predict, predictStream, type Prediction } from '../src/infer/predict.js';
import { predictCommand } from '../src/cli/commands/predict.js';
import { evaluateCommand } from '../src/cli/commands/evaluate.js';
import type { CommandIO } from '../src/cli/command-io.js';
import { wilsonInterval } from '../src/metrics/classification.js';
import type { NamedTensors } from '../src/tensor.js';
import { smallCnn } from './small-cnn.js';

const MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const STD: [number, number, number] = [0.229, 0.224, 0.225];
const PRE: PreprocessSpec = { inputSize: 8, resizeSize: 8, mean: MEAN, std: STD, interpolation: 'bilinear' };
const spec = { ...smallCnn, preprocess: { ...PRE } };
const dir = mkdtempSync(join(os.tmpdir(), 'headstart-infer-predict-'));
const model2 = join(dir, 'two.onnx');
const model3 = join(dir, 'three.onnx');
const CLASSES2 = ['blue', 'red'];
const CLASSES3 = ['blue', 'green', 'red'];
const THREADS = 1;

/** Hand-set weights: conv1 channel c copies input channel SRC[c] at the kernel centre; conv2/bn2 output 0. */
function handParams(fcRows: number[][]): NamedTensors {
  const defs = buildInferenceGraph(spec, { batch: -1, numClasses: fcRows.length }).params;
  const p: NamedTensors = new Map();
  for (const d of defs) {
    const data = new Float32Array(d.shape.reduce((a, b) => a * b, 1));
    if (d.role === 'running_var' || (d.role === 'bn_weight' && d.name.startsWith('bn1'))) data.fill(1);
    p.set(d.name, { dtype: 'float32', shape: d.shape, data });
  }
  // feature 0 <- red, 1 <- blue, 2 <- green
  const w = p.get('conv1.weight')!.data as Float32Array; // [8, 3, 3, 3]
  const SRC = [0, 2, 1];
  SRC.forEach((src, c) => (w[((c * 3 + src) * 3 + 1) * 3 + 1] = 1));
  const fc = p.get('fc.weight')!.data as Float32Array; // [K, 8]
  fcRows.forEach((row, k) => row.forEach((v, j) => (fc[k * 8 + j] = v)));
  return p;
}

/** What the network computes for a solid colour: softmax over the picked, ReLU'd normalised channels. */
function expectedProbs(rgb: [number, number, number], fcRows: number[][]): number[] {
  const norm = (v: number, c: number) => Math.max(0, (v / 255 - MEAN[c]) / STD[c]) / Math.sqrt(1 + 1e-5);
  const f = [norm(rgb[0], 0), norm(rgb[2], 2), norm(rgb[1], 1), 0, 0, 0, 0, 0];
  const logits = fcRows.map((row) => row.reduce((s, v, j) => s + v * f[j], 0));
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

// 2 classes: blue (logit = blue feature), red (logit = red feature).
const FC2 = [
  [0, 1, 0, 0, 0, 0, 0, 0],
  [1, 0, 0, 0, 0, 0, 0, 0],
];
// 3 classes: blue, green, red.
const FC3 = [
  [0, 1, 0, 0, 0, 0, 0, 0],
  [0, 0, 1, 0, 0, 0, 0, 0],
  [1, 0, 0, 0, 0, 0, 0, 0],
];
const RED: [number, number, number] = [255, 0, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const ORANGE: [number, number, number] = [255, 128, 0];

async function solid(path: string, rgb: [number, number, number], size = 8): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  await sharp({ create: { width: size, height: size, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toFile(path);
}

/** A white image with one red column at x: the network is not mirror-symmetric (MaxPool windows). */
async function stripe(path: string, x: number, flop = false): Promise<void> {
  const px = Buffer.alloc(8 * 8 * 3, 0);
  for (let y = 0; y < 8; y++) {
    px[(y * 8 + x) * 3] = 255;
    px[(y * 8 + (7 - x)) * 3 + 2] = 120;
  }
  let img = sharp(px, { raw: { width: 8, height: 8, channels: 3 } });
  if (flop) img = img.flop();
  await img.png().toFile(path);
}

type Command = (argv: string[], io: CommandIO) => Promise<number>;

/** Runs a command with its output captured (the test runner owns process.stdout). */
async function capture(command: Command, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await command(argv, { out: (s) => void out.push(s), err: (s) => void err.push(s), tty: false });
  return { code, out: out.join(''), err: err.join('') };
}

before(async () => {
  await writeClassifier(model2, spec, handParams(FC2), { model: 'small_cnn', classes: CLASSES2, preprocess: PRE, mode: 'finetune', bestValAcc: 0.9, epochs: 2 });
  await writeClassifier(model3, spec, handParams(FC3), { model: 'small_cnn', classes: CLASSES3, preprocess: PRE, mode: 'features' });
  // Unlabelled test images, Kaggle-style numeric names (10 sorts after 2 numerically).
  await solid(join(dir, 'test', '1.png'), RED);
  await solid(join(dir, 'test', '2.png'), BLUE);
  await solid(join(dir, 'test', '10.png'), ORANGE, 12); // 12x12: resized to 8 then centre-cropped
  writeFileSync(join(dir, 'test', '3.png'), 'this is not a PNG');
  // Labelled folder with a known confusion matrix: blue [2 right, 1 wrong], red [3 right, 1 wrong] + 1 corrupt.
  const lab = join(dir, 'labelled');
  await solid(join(lab, 'blue', 'b1.png'), BLUE);
  await solid(join(lab, 'blue', 'b2.jpg'), [10, 20, 240]);
  await solid(join(lab, 'blue', 'b3.png'), RED);
  await solid(join(lab, 'red', 'r1.png'), RED);
  await solid(join(lab, 'red', 'r2.png'), [240, 30, 30]);
  await solid(join(lab, 'red', 'r3.png'), ORANGE);
  await solid(join(lab, 'red', 'r4.png'), BLUE);
  const png = readFileSync(join(lab, 'red', 'r1.png'));
  writeFileSync(join(lab, 'red', 'r5.png'), png.subarray(0, png.length >> 1)); // truncated
  await solid(join(dir, 'splits', 'train', 'blue', 't.png'), BLUE);
  await solid(join(dir, 'splits', 'train', 'red', 't.png'), RED);
  await solid(join(dir, 'splits', 'val', 'blue', 'v.png'), RED);
  await solid(join(dir, 'splits', 'val', 'red', 'v.png'), RED);
  await solid(join(dir, 'mismatch', 'blue', 'x.png'), BLUE);
  await solid(join(dir, 'mismatch', 'green', 'y.png'), BLUE);
  mkdirSync(join(dir, 'tta'));
  await stripe(join(dir, 'tta', 'a.png'), 1);
  await stripe(join(dir, 'tta', 'a_flipped.png'), 1, true);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('model file', () => {
  test('writeClassifier stores the metadata; readClassifier and the onnxruntime-free reader get it back', async () => {
    const file = await readClassifier(model2);
    assert.deepEqual(file.metadata.classes, CLASSES2);
    assert.equal(file.metadata.format, 'headstart-classifier');
    assert.equal(file.metadata.version, 1);
    assert.equal(file.metadata.bestValAcc, 0.9);
    assert.deepEqual(file.metadata.preprocess, PRE);
    assert.ok(!Number.isNaN(Date.parse(file.metadata.createdAt)));
    assert.deepEqual(file.input, { name: 'images', shape: [-1, 3, 8, 8] });
    assert.deepEqual(file.output, { name: 'logits', shape: [-1, 2] });
    assert.deepEqual(readClassifierMetadataFromBytes(file.bytes), file.metadata);
  });

  test('not an ONNX file, an ONNX file without metadata, and bad metadata are clear errors', async () => {
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, 'hello, not protobuf at all \u0000\u0001');
    await assert.rejects(readClassifier(junk), (e: unknown) => e instanceof WeightsError && e.code === 'E_BAD_MODEL_FILE' && /junk\.onnx.* is not an ONNX model/.test(e.message));
    await assert.rejects(
      readClassifier(join(dir, 'missing.onnx')),
      (e: unknown) => e instanceof IOError && e.code === 'E_NOT_FOUND' && /Cannot read the model file .*missing\.onnx.*ENOENT/.test(e.message),
    );

    const bare = join(dir, 'bare.onnx');
    writeFileSync(bare, buildInferenceGraph(spec, { batch: -1, numClasses: 2, constants: handParams(FC2) }).bytes);
    await assert.rejects(
      readClassifier(bare),
      (e: unknown) => e instanceof WeightsError && e.code === 'E_BAD_MODEL_FILE' && /no `headstart` metadata/.test(e.message) && /--classes/.test(e.hint ?? ''),
    );
    // A foreign classifier is usable when the caller supplies classes and preprocessing.
    const foreign = await predict(bare, join(dir, 'test', '1.png'), { classes: ['x', 'y'], preprocess: PRE, threads: THREADS });
    assert.equal(foreign.predictions[0].top[0].label, 'y');
    await assert.rejects(readClassifier(bare, { classes: ['a', 'b', 'c'], preprocess: PRE }), {
      code: 'E_BAD_OPTION',
      name: 'ConfigError',
      message: /outputs 2 logits per image but its metadata lists 3 classes/,
    });

    assert.throws(() => classifierBytes(spec, handParams(FC2), { model: 'x', classes: ['a', 'a'], preprocess: PRE, mode: 'finetune' }), {
      code: 'E_BAD_OPTION',
      name: 'ConfigError',
      message: /class names must be unique/,
    });
    const partial = handParams(FC2);
    partial.delete('bn2.running_var');
    assert.throws(() => classifierBytes(spec, partial, { model: 'x', classes: CLASSES2, preprocess: PRE, mode: 'finetune' }), {
      code: 'E_WEIGHTS_MISMATCH',
      name: 'WeightsError',
      message: /no value for 1 parameter\(s\): `bn2\.running_var`/,
    });
  });
});

describe('predict', () => {
  test('probabilities are the closed-form ones, sum to 1, top-k is ordered; a corrupt file is skipped', async () => {
    const r = await predict(model3, join(dir, 'test'), { topK: 3, threads: THREADS, batchSize: 2 });
    assert.deepEqual(r.classes, CLASSES3);
    assert.deepEqual(
      r.predictions.map((p) => p.id),
      ['1', '10', '2'],
    ); // code-point order of the walk
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0].path, /3\.png$/);
    assert.match(r.skipped[0].reason, /3\.png/);
    const colours = { '1': RED, '2': BLUE, '10': ORANGE } as Record<string, [number, number, number]>;
    for (const p of r.predictions) {
      const want = expectedProbs(colours[p.id], FC3);
      assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-6);
      p.probabilities.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4, `${p.id} class ${i}: ${v} vs ${want[i]}`));
      assert.equal(p.top.length, 3);
      for (let i = 1; i < p.top.length; i++) assert.ok(p.top[i - 1].probability >= p.top[i].probability);
      assert.deepEqual(
        p.top.map((t) => t.probability),
        p.top.map((t) => p.probabilities[t.index]),
      );
    }
    // orange: red > green > blue; pure red: red, then the blue/green tie in class order.
    assert.deepEqual(
      r.predictions.find((p) => p.id === '10')!.top.map((t) => t.label),
      ['red', 'green', 'blue'],
    );
    assert.deepEqual(
      r.predictions.find((p) => p.id === '1')!.top.map((t) => t.label),
      ['red', 'blue', 'green'],
    );
    const top1 = await predict(model3, [join(dir, 'test', '2.png')], { topK: 1, threads: THREADS });
    assert.deepEqual(
      top1.predictions[0].top.map((t) => t.label),
      ['blue'],
    );
  });

  test('--tta averages the image and its mirror', async () => {
    const r = await predict(model2, join(dir, 'tta'), { threads: THREADS });
    const [plain, flipped] = r.predictions;
    assert.ok(Math.abs(plain.probabilities[0] - flipped.probabilities[0]) > 1e-3, 'the fixture must not be mirror-symmetric for this network');
    const t = await predict(model2, join(dir, 'tta', 'a.png'), { threads: THREADS, tta: true });
    t.predictions[0].probabilities.forEach((v, i) => assert.ok(Math.abs(v - (plain.probabilities[i] + flipped.probabilities[i]) / 2) < 1e-6));
    assert.equal(t.tta, true);
  });

  test('kaggle rows: id,label = P(second class), numeric id order; needs 2 classes', async () => {
    const r = await predict(model2, join(dir, 'test'), { threads: THREADS });
    const csv = kaggleCsv(r.predictions, r.classes);
    const lines = csv.trim().split('\n');
    assert.equal(lines[0], 'id,label');
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(',')[0]),
      ['1', '2', '10'],
    );
    const red = Number(lines[1].split(',')[1]);
    assert.ok(Math.abs(red - expectedProbs(RED, FC2)[1]) < 1e-5);
    const r3 = await predict(model3, join(dir, 'test', '1.png'), { threads: THREADS });
    assert.throws(
      () => kaggleCsv(r3.predictions, r3.classes),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_INCOMPATIBLE_INPUT' && /needs a model with 2 classes, this one has 3 \(blue, green, red\)/.test(e.message),
    );
  });

  test('CLI: table, csv, json, --kaggle, bad flags', async () => {
    const table = await capture(predictCommand, [model3, join(dir, 'test'), '--top-k', '2', '--threads', '1']);
    assert.equal(table.code, 0);
    const rows = table.out.trim().split('\n');
    assert.match(rows[0], /^image\s+#1\s+#2$/);
    assert.match(
      rows.find((l) => l.includes('10.png'))!,
      /red \d+\.\d%\s+green \d+\.\d%/,
    );
    assert.match(table.err, /warning: skipped .*3\.png/);

    const csv = await capture(predictCommand, [model3, join(dir, 'test', '2.png'), '--format', 'csv', '--top-k', '3', '--threads', '1']);
    assert.deepEqual(
      csv.out
        .trim()
        .split('\n')
        .map((l) => l.split(',').slice(1, 3).join(',')),
      ['rank,label', '1,blue', '2,green', '3,red'],
    );

    const json = await capture(predictCommand, [model2, join(dir, 'test'), '--format', 'json', '--threads', '1']);
    const doc = JSON.parse(json.out);
    assert.deepEqual(doc.classes, CLASSES2);
    assert.equal(doc.predictions.length, 3);
    assert.equal(doc.skipped.length, 1);

    const out = join(dir, 'submission.csv');
    const kaggle = await capture(predictCommand, [model2, join(dir, 'test'), '--kaggle', out, '--threads', '1']);
    assert.equal(kaggle.code, 0);
    assert.match(readFileSync(out, 'utf8'), /^id,label\n1,0\.\d{6}\n2,0\.\d{6}\n10,0\.\d{6}\n$/);
    const k3 = await capture(predictCommand, [model3, join(dir, 'test'), '--kaggle', out, '--threads', '1']);
    assert.equal(k3.code, 1);
    assert.match(k3.err, /^error: --kaggle needs a model with 2 classes/);

    const bad = await capture(predictCommand, [model2, join(dir, 'test'), '--colour']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown flag --colour.*valid flags: .*--top-k/);
    const badFormat = await capture(predictCommand, [model2, join(dir, 'test'), '--format', 'xml']);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.err, /--format must be one of table, csv, json, jsonl, found `xml`/);
  });

  test("streaming: predictStream gives predict()'s results batch by batch; csv/jsonl are written as they come, with a progress bar on a TTY", async () => {
    const whole = await predict(model3, join(dir, 'test'), { topK: 2, threads: THREADS, batchSize: 2 });
    const stream = await predictStream(model3, join(dir, 'test'), { topK: 2, threads: THREADS, batchSize: 2 });
    assert.equal(stream.total, 4);
    assert.deepEqual(stream.classes, CLASSES3);
    const got: Prediction[] = [];
    const skipped: string[] = [];
    let batches = 0;
    for await (const b of stream) {
      batches++;
      got.push(...b.predictions);
      skipped.push(...b.skipped.map((s) => s.path));
      assert.ok(b.predictions.length <= 2 && b.done <= b.total);
    }
    assert.ok(batches >= 2, 'more than one batch');
    assert.deepEqual(got, whole.predictions);
    assert.deepEqual(
      skipped,
      whole.skipped.map((s) => s.path),
    );

    // The CLI writes every batch's rows before the next one: out chunks interleave with progress.
    const events: string[] = [];
    const io = { out: (s: string) => void events.push(`out:${s}`), err: (s: string) => void events.push(`err:${s}`), tty: true };
    assert.equal(await predictCommand([model3, join(dir, 'test'), '--format', 'csv', '--top-k', '1', '--batch-size', '1', '--threads', '1'], io), 0);
    const out = events.filter((e) => e.startsWith('out:')).map((e) => e.slice(4));
    assert.equal(out[0], 'path,rank,label,probability\n');
    assert.deepEqual(
      out
        .join('')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(1, 3).join(',')),
      whole.predictions.map((p) => `1,${p.top[0].label}`),
    );
    assert.ok(out.length >= 4, 'one write per batch');
    const err = events.filter((e) => e.startsWith('err:')).join('');
    assert.match(err, /predict \[=+ *\] \d\/4 images/);
    assert.match(err, /warning: skipped .*3\.png/);
    assert.match(err, /classified 3 of 4 images \(1 skipped\)/);

    const jl = await capture(predictCommand, [model3, join(dir, 'test'), '--format', 'jsonl', '--threads', '1']);
    assert.equal(jl.code, 0);
    const lines = jl.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; top: { label: string }[] });
    assert.deepEqual(
      lines.map((l) => l.path),
      whole.predictions.map((p) => p.path),
    );
    assert.doesNotMatch(jl.err, /images \|/, 'no progress bar off a TTY');
  });
});

describe('evaluate', () => {
  test('a labelled folder with a known confusion matrix; the corrupt file is skipped', async () => {
    const r = await evaluate(model2, join(dir, 'labelled'), { threads: THREADS });
    // classes [blue, red]; rows = true class.
    assert.deepEqual(r.metrics.confusion, [
      [2, 1],
      [1, 3],
    ]);
    const a = r.metrics.accuracy;
    assert.equal(a.correct, 5);
    assert.equal(a.total, 7);
    const w = wilsonInterval(5, 7);
    assert.ok(Math.abs(a.lower - w.lower) < 1e-12 && Math.abs(a.upper - w.upper) < 1e-12);
    assert.equal(a.confidence, 0.95);
    const [blue, red] = r.metrics.perClass;
    assert.equal(blue.name, 'blue');
    assert.ok(Math.abs(blue.precision - 2 / 3) < 1e-12 && Math.abs(blue.recall - 2 / 3) < 1e-12);
    assert.ok(Math.abs(red.precision - 3 / 4) < 1e-12 && Math.abs(red.recall - 3 / 4) < 1e-12 && Math.abs(red.f1 - 3 / 4) < 1e-12);
    assert.equal(r.skipped.length, 1);
    assert.match(r.skipped[0].path, /r5\.png$/);
    assert.deepEqual(r.mistakes.map((m) => [m.label, m.predicted]).sort(), [
      ['blue', 'red'],
      ['red', 'blue'],
    ]);
  });

  test('a dataset root: val/ by default, another split on request', async () => {
    const val = await evaluate(model2, join(dir, 'splits'), { threads: THREADS });
    assert.match(val.dir, /splits[\\/]val$/);
    assert.deepEqual(val.metrics.confusion, [
      [0, 1],
      [0, 1],
    ]);
    const tr = await evaluate(model2, join(dir, 'splits'), { threads: THREADS, split: 'train' });
    assert.equal(tr.metrics.accuracy.estimate, 1);
    await assert.rejects(evaluate(model2, join(dir, 'splits'), { split: 'test' }), { code: 'E_BAD_OPTION', message: /has no test\/ folder \(it has train, val\)/ });
  });

  test('the folder classes must be the model classes: the error names both lists', async () => {
    await assert.rejects(
      evaluate(model2, join(dir, 'mismatch'), { threads: THREADS }),
      (e: unknown) =>
        e instanceof ConfigError && e.code === 'E_BAD_LAYOUT' && /\[blue, green\] do not match the model's classes \[blue, red\]/.test(e.message) && /not in the model: green/.test(e.message),
    );
  });

  test('CLI: report and --json', async () => {
    const text = await capture(evaluateCommand, [model2, join(dir, 'labelled'), '--threads', '1']);
    assert.equal(text.code, 0);
    assert.match(text.out, /^accuracy 71\.4% \(5\/7\), 95% Wilson interval \[\d+\.\d%, \d+\.\d%\]/);
    assert.match(text.out, /confusion matrix/);
    assert.match(text.err, /skipped .*r5\.png/);
    const json = await capture(evaluateCommand, [model2, join(dir, 'labelled'), '--json', '--threads', '1']);
    const doc = JSON.parse(json.out);
    assert.deepEqual(doc.metrics.confusion, [
      [2, 1],
      [1, 3],
    ]);
    assert.deepEqual(doc.classes, CLASSES2);
    const mismatch = await capture(evaluateCommand, [model2, join(dir, 'mismatch'), '--threads', '1']);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.err, /^error: The class folders/);
  });
});
