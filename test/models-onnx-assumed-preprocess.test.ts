/**
 * An ONNX classifier without preprocessing metadata: `--model x.onnx` says which preprocessing
 * it assumed and why (ImageNet's mean/std, the resize side), and says nothing when the file or
 * the options give the values.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildInferenceGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { onnxBackboneSpec } from '../src/models/onnx-backbone.js';
import { plainLog } from '../src/train/listeners/plain-log.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

async function foreignModel(metadata: Record<string, string> = {}): Promise<string> {
  const probe = buildInferenceGraph(tinySpec, { batch: -1, numClasses: 5 });
  const built = buildInferenceGraph(tinySpec, { batch: -1, numClasses: 5, constants: initParams(probe.params, 1), metadata });
  const file = join(await tempDir('foreign-onnx-'), 'classifier.onnx');
  writeFileSync(file, built.bytes);
  return file;
}

test('an ONNX file without preprocessing metadata: the assumed values are named, with why and the flag to change them', async () => {
  const bare = onnxBackboneSpec(await foreignModel());
  const notes = bare.assumedPreprocess ?? [];
  assert.equal(notes.length, 2, notes.join('\n'));
  assert.match(notes[0], /assumed ImageNet's mean \[0\.485, 0\.456, 0\.406\] and std \[0\.229, 0\.224, 0\.225\] \(the file records none.*pass --mean and --std/);
  assert.match(notes[1], /resize side: assumed 18 before the 16 centre crop .*--resize-size/);
  assert.deepEqual(bare.preprocess.mean, [0.485, 0.456, 0.406]);

  const given = onnxBackboneSpec(await foreignModel(), { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2], resizeSize: 16 });
  assert.equal(given.assumedPreprocess, undefined);
  const recorded = onnxBackboneSpec(await foreignModel({ mean: '0.5,0.5,0.5', std: '0.2 0.2 0.2', resize_size: '16' }));
  assert.equal(recorded.assumedPreprocess, undefined);
  assert.deepEqual(recorded.preprocess.std, [0.2, 0.2, 0.2]);
});

test('train --model x.onnx warns about the assumed preprocessing', async () => {
  const root = await makeColourDataset({ train: 2, val: 1 });
  const lines: string[] = [];
  await train(root, { model: await foreignModel(), mode: 'features', epochs: 1, threads: 1, out: await tempDir(), cacheDir: await tempDir('cache-') }, { listeners: [plainLog((l) => lines.push(l))] });
  const warnings = lines.filter((l) => l.startsWith('warning: onnx:classifier.onnx: '));
  assert.equal(warnings.length, 2, lines.join('\n'));
  assert.match(warnings[0], /assumed ImageNet's mean/);
});
