/**
 * The public surface: everything a library user needs comes from the package entry
 * (src/index.ts), and the package's exports map hides the rest. A model registered through
 * the public entry alone trains like a built-in one.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as headstart from '../src/index.js';
import { makeColourDataset } from './train-fixtures.js';

test('a model registered through the public entry alone trains and predicts', async () => {
  const { registerModel, getModel, train, predict, NetBuilder } = headstart;
  assert.equal(typeof NetBuilder, 'function');
  const spec: headstart.ModelSpec = {
    name: 'public_api_cnn',
    description: 'a two-layer CNN defined by a library user',
    features: (b, images) => {
      let x = b.relu(b.batchNorm2d(b.conv2d(images, 'conv1', 8, { kernel: 3, padding: 1 }), 'bn1'));
      x = b.relu(b.conv2d(x, 'conv2', 16, { kernel: 3, stride: 2, padding: 1, bias: true }));
      return b.g.op('Flatten', [b.g.op('GlobalAveragePool', [x])], { axis: 1 });
    },
    featureDim: 16,
    head: { name: 'fc', dropout: 0 },
    stages: ['conv1', 'bn1', 'conv2', 'fc'],
    preprocess: { inputSize: 16, resizeSize: 16, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear' },
    weights: [],
  };
  registerModel(spec);
  assert.equal(getModel('public_api_cnn'), spec);
  const root = await makeColourDataset({ train: 8, val: 4 });
  const out = await mkdtemp(join(os.tmpdir(), 'headstart-public-'));
  const events: string[] = [];
  const r = await train(
    root,
    { model: 'public_api_cnn', weights: 'none', mode: 'finetune', epochs: 2, lr: 0.05, threads: 1, out },
    { listeners: [{ epoch_end: (e) => void events.push(`epoch ${e.epoch}`) }] },
  );
  assert.deepEqual(events, ['epoch 1', 'epoch 2']);
  assert.ok(r.modelPath);
  const p = await predict(r.modelPath, [join(root, 'val')], { threads: 1 });
  assert.equal(p.predictions.length, 12);
});

test('errors carry specific codes the public entry lists', () => {
  assert.ok(headstart.ERROR_CODES.includes('E_SHAPE_MISMATCH'));
  assert.throws(
    () => headstart.getModel('no_such_model'),
    (e: unknown) => e instanceof headstart.ConfigError && e.code === 'E_UNKNOWN_MODEL',
  );
});

test('package.json exposes only the entry, its types and the bin', () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, unknown>; bin: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.exports), ['.', './package.json']);
  assert.deepEqual(pkg.exports['.'], { types: './dist/src/index.d.ts', import: './dist/src/index.js' });
  assert.deepEqual(Object.keys(pkg.bin), ['headstart']);
});
