/**
 * What `predict` writes and when it fails (issue 12, items 5, 6, 11): every CSV goes through
 * one RFC 4180 writer (a Kaggle id with a comma or a quote stays one field); no decodable
 * input is an error with a line per refused file; --kaggle's checks (2 classes, the output
 * folder) come before any image is classified.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import type { CommandIO } from '../src/cli/command-io.js';
import { predictCommand } from '../src/cli/commands/predict.js';
import { buildInferenceGraph } from '../src/graphs/network-graph.js';
import { Classifier } from '../src/infer/classifier.js';
import { writeClassifier } from '../src/infer/model-file.js';
import type { NamedTensors } from '../src/tensor.js';
import { smallCnn } from './small-cnn.js';

const PRE = { inputSize: 8, resizeSize: 8, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.25, 0.25, 0.25] as [number, number, number], interpolation: 'bilinear' as const };
const spec = { ...smallCnn, preprocess: { ...PRE } };
const dir = mkdtempSync(join(os.tmpdir(), 'headstart-cli-outputs-'));
const model2 = join(dir, 'two.onnx');
const model3 = join(dir, 'three.onnx');

/** Deterministic small weights (BN variances 1), so every image gets some prediction. */
function params(k: number): NamedTensors {
  const p: NamedTensors = new Map();
  for (const d of buildInferenceGraph(spec, { batch: -1, numClasses: k }).params) {
    const data = new Float32Array(d.shape.reduce((a, b) => a * b, 1));
    data.forEach((_, i) => (data[i] = d.role === 'running_var' || d.role === 'bn_weight' ? 1 : d.role === 'running_mean' || d.role === 'bn_bias' ? 0 : Math.sin(i + 1) * 0.1));
    p.set(d.name, { dtype: 'float32', shape: d.shape, data });
  }
  return p;
}

/** RFC 4180 parser (quoted fields, doubled quotes), for checking what the writer wrote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  return rows;
}

async function capture(argv: string[]) {
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) } satisfies CommandIO & { stdout: string; stderr: string };
  const code = await predictCommand(argv, io);
  return { code, ...io };
}

async function png(path: string, seed: number): Promise<void> {
  mkdirSync(join(path, '..'), { recursive: true });
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: (seed * 70) % 256, g: 40, b: 200 } } })
    .png()
    .toFile(path);
}

before(async () => {
  await writeClassifier(model2, spec, params(2), { model: 'small_cnn', classes: ['cat', 'dog'], preprocess: PRE, mode: 'features' });
  await writeClassifier(model3, spec, params(3), { model: 'small_cnn', classes: ['a,b', 'say "hi"', 'c'], preprocess: PRE, mode: 'features' });
  await png(join(dir, 'test', 'with,comma.png'), 1);
  await png(join(dir, 'test', 'quote"d.png'), 2);
  await png(join(dir, 'test', '7.png'), 3);
  mkdirSync(join(dir, 'broken'));
  writeFileSync(join(dir, 'broken', 'a.png'), 'not a png');
  writeFileSync(join(dir, 'broken', 'b.jpg'), '');
});

test('one CSV writer: --kaggle ids and --format csv paths and labels with commas and quotes stay one field', async () => {
  const out = join(dir, 'sub.csv');
  const k = await capture([model2, join(dir, 'test'), '--kaggle', out, '--threads', '1']);
  assert.equal(k.code, 0, k.stderr);
  const rows = parseCsv(readFileSync(out, 'utf8'));
  assert.deepEqual(rows[0], ['id', 'label']);
  assert.ok(
    rows.every((r) => r.length === 2),
    JSON.stringify(rows),
  );
  assert.deepEqual(
    rows
      .slice(1)
      .map((r) => r[0])
      .sort(),
    ['7', 'quote"d', 'with,comma'],
  );

  const c = await capture([model3, join(dir, 'test'), '--format', 'csv', '--top-k', '3', '--threads', '1']);
  assert.equal(c.code, 0, c.stderr);
  const table = parseCsv(c.stdout);
  assert.deepEqual(table[0], ['path', 'rank', 'label', 'probability']);
  assert.ok(
    table.every((r) => r.length === 4),
    JSON.stringify(table),
  );
  assert.ok(table.some((r) => r[0] === join(dir, 'test', 'with,comma.png')));
  assert.deepEqual(new Set(table.slice(1).map((r) => r[2])), new Set(['a,b', 'say "hi"', 'c']));
});

test('no decodable input: exit 1 with a line per refused file, in every format', async () => {
  for (const extra of [[], ['--format', 'csv'], ['--format', 'jsonl'], ['--format', 'json'], ['--kaggle', join(dir, 'none.csv')]]) {
    const r = await capture([model2, join(dir, 'broken'), '--threads', '1', ...extra]);
    assert.equal(r.code, 1, `${extra.join(' ')}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`skipped ${join(dir, 'broken', 'a.png')}:`), r.stderr);
    assert.ok(r.stderr.includes(`skipped ${join(dir, 'broken', 'b.jpg')}:`), r.stderr);
    assert.match(r.stderr, /error: None of the 2 input image\(s\) could be decoded/);
  }
  // One readable image among broken ones still succeeds (and lists the refused ones).
  const mixed = await capture([model2, join(dir, 'broken'), join(dir, 'test', '7.png'), '--threads', '1']);
  assert.equal(mixed.code, 0, mixed.stderr);
  assert.match(mixed.stdout, /7\.png/);
  assert.match(mixed.stderr, /skipped .*a\.png/);
});

test('--kaggle validates before classifying: a model without 2 classes, a missing output folder', async (t) => {
  const classify = t.mock.method(Classifier.prototype, 'classifyBatches');
  const three = await capture([model3, join(dir, 'test'), '--kaggle', join(dir, 'k.csv'), '--threads', '1']);
  assert.equal(three.code, 1);
  assert.match(three.stderr, /^error: --kaggle needs a model with 2 classes, this one has 3/);
  const missing = await capture([model2, join(dir, 'test'), '--kaggle', join(dir, 'no-such-folder', 'k.csv'), '--threads', '1']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: Cannot write .*k\.csv`: the folder `.*no-such-folder` does not exist/);
  assert.equal(classify.mock.callCount(), 0, 'no image was classified before the checks failed');
  const ok = await capture([model2, join(dir, 'test'), '--kaggle', join(dir, 'k.csv'), '--threads', '1']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(classify.mock.callCount(), 1);
});
