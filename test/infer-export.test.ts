import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import ort from 'onnxruntime-node';
import { exportModel } from '../src/infer/export.js';
import { readClassifier, readClassifierMetadataFromBytes } from '../src/infer/model-file.js';
import { WeightsError } from '../src/errors.js';
import { exportCommand } from '../src/cli/commands/export.js';

const PYTHON = '/usr/bin/python3';
const dir = mkdtempSync(join(os.tmpdir(), 'headstart-infer-export-'));
let torchReason: string | undefined;

before(() => {
  const r = spawnSync(PYTHON, ['scripts/infer_make_resnet18.py', dir, '0', '2'], { encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) torchReason = `PyTorch reference unavailable (${PYTHON} scripts/infer_make_resnet18.py failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
});
after(() => rmSync(dir, { recursive: true, force: true }));

function f32(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

test('export resnet18 from a torchvision .pth: plain onnxruntime reproduces torchvision logits (1e-4)', async (t) => {
  if (torchReason) return t.skip(torchReason);
  const out = join(dir, 'resnet18.onnx');
  const result = await exportModel('resnet18', out, { weights: join(dir, 'resnet18.pth') });
  assert.equal(result.numClasses, 1000);
  assert.deepEqual(result.reinitialised, []);
  assert.equal(result.loaded, 102); // every state-dict tensor but the 20 num_batches_tracked counters

  // Plain onnxruntime-node, no headstart code in the loop.
  const session = await ort.InferenceSession.create(out, { intraOpNumThreads: 2 });
  assert.equal(session.inputNames[0], 'images');
  const x = f32(join(dir, 'input.f32'));
  const ref = f32(join(dir, 'logits.f32'));
  const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [2, 3, 224, 224]) });
  const y = res[session.outputNames[0]];
  assert.deepEqual(y.dims, [2, 1000]);
  let maxAbs = 0;
  const data = y.data as Float32Array;
  for (let i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(data[i] - ref[i]));
  assert.ok(maxAbs < 1e-4, `max abs difference ${maxAbs} >= 1e-4`);
  await session.release();

  // The file is self-describing: headstart metadata, without onnxruntime.
  const meta = readClassifierMetadataFromBytes(new Uint8Array(readFileSync(out)));
  assert.equal(meta.model, 'resnet18');
  assert.equal(meta.classes.length, 1000);
  assert.equal(meta.preprocess.inputSize, 224);
  const file = await readClassifier(out);
  assert.deepEqual(file.input, { name: 'images', shape: [-1, 3, 224, 224] });
  assert.deepEqual(file.output, { name: 'logits', shape: [-1, 1000] });
});

test('export with --num-classes re-initialises only the classifier and says so', async (t) => {
  if (torchReason) return t.skip(torchReason);
  const notes: string[] = [];
  const out = join(dir, 'resnet18-3.onnx');
  const result = await exportModel('resnet18', out, { weights: join(dir, 'resnet18.pth'), numClasses: 3, classes: ['a', 'b', 'c'], onNote: (l) => notes.push(l) });
  assert.deepEqual(result.reinitialised.sort(), ['fc.bias', 'fc.weight']);
  assert.match(notes.join('\n'), /classifier has 1000 outputs and the model 3/);
  const file = await readClassifier(out);
  assert.deepEqual(file.metadata.classes, ['a', 'b', 'c']);
  assert.deepEqual(file.output.shape, [-1, 3]);
});

test('export of the wrong architecture names the parameter and both shapes', async (t) => {
  if (torchReason) return t.skip(torchReason);
  await assert.rejects(
    exportModel('resnet50', join(dir, 'bad.onnx'), { weights: join(dir, 'resnet18.pth') }),
    (err: unknown) => err instanceof WeightsError && err.code === 'E_SHAPE_MISMATCH' && /Shape mismatch for `layer1\.0\.conv1\.weight`: expected \[64,64,1,1\], found \[64,64,3,3\]/.test(err.message),
  );
});

test('CLI: headstart export writes the file and reports; missing --model is a usage error', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), tty: false };
  assert.equal(await exportCommand(['--out', join(dir, 'x.onnx')], io), 2);
  assert.match(err.join(''), /--model is required/);
  assert.equal(await exportCommand(['--model', 'resnet18', '--out', join(dir, 'x.onnx'), '--num-classes', 'two'], io), 2);
  assert.match(err.join(''), /--num-classes must be a whole number >= 1, found `two`/);
  if (torchReason) return t.skip(torchReason);
  const code = await exportCommand(['--model', 'resnet18', '--weights', join(dir, 'resnet18.pth'), '--out', join(dir, 'cli.onnx'), '--num-classes', '2', '--classes', 'cat,dog'], io);
  assert.equal(code, 0, err.join(''));
  assert.match(out.join(''), /wrote .*cli\.onnx: resnet18, 2 classes, 100 tensors from .*resnet18\.pth, re-initialised fc\.weight, fc\.bias/);
  assert.match(err.join(''), /note: The checkpoint's classifier has 1000 outputs and the model 2/);
  assert.deepEqual((await readClassifier(join(dir, 'cli.onnx'))).metadata.classes, ['cat', 'dog']);
});
