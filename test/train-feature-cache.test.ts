/**
 * Feature extraction's cache: the backbone runs once per image (per view) and a later run
 * reuses the features; changing a data file changes the key; --feature-views K caches K
 * augmented views.
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readFeatureCache } from '../src/train/feature-cache.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

function counter() {
  const c = { extractPhases: 0, extractBatches: 0 };
  return {
    c,
    listener: {
      phase_start: (e: { phase: string }) => void (c.extractPhases += e.phase === 'extract' ? 1 : 0),
      batch_end: (e: { phase: string }) => void (c.extractBatches += e.phase === 'extract' ? 1 : 0),
    },
  };
}

test('features are extracted once and reused by a later run; a changed file changes the key', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 2, threads: 1, cacheDir } as const;
  const a = counter();
  const r1 = await train(root, { ...base, out: await tempDir() }, { listeners: [a.listener] });
  assert.equal(a.c.extractPhases, 1);
  assert.equal(r1.featureCache?.hit, false);
  const b = counter();
  const r2 = await train(root, { ...base, epochs: 3, lr: 0.01, out: await tempDir() }, { listeners: [b.listener] });
  assert.equal(b.c.extractPhases, 0, 'no image goes through the backbone again');
  assert.equal(r2.featureCache?.hit, true);
  assert.equal(r2.featureCache?.path, r1.featureCache?.path);

  // Touch a file's content: a new key, a new extraction.
  const f = join(root, 'train', 'red', 'train-0.png');
  writeFileSync(f, readFileSync(join(root, 'train', 'red', 'train-1.png')));
  const c = counter();
  const r3 = await train(root, { ...base, out: await tempDir() }, { listeners: [c.listener] });
  assert.equal(c.c.extractPhases, 1);
  assert.notEqual(r3.featureCache?.path, r1.featureCache?.path);
  assert.equal(readdirSync(cacheDir).filter((n) => n.endsWith('.bin')).length, 2);
});

test('--feature-views 3 caches three augmented views of every training image, one of val', async () => {
  const root = await makeColourDataset({ train: 5, val: 2 });
  const cacheDir = await tempDir('cache-');
  const r = await train(root, { model: tinySpec, weights: 'none', mode: 'features', epochs: 2, featureViews: 3, threads: 1, out: await tempDir(), cacheDir });
  const read = readFeatureCache(r.featureCache!.path);
  assert.ok('set' in read, JSON.stringify(read));
  const set = read.set;
  assert.equal(set.train.views.length, 3);
  assert.equal(set.val.views.length, 1);
  assert.equal(set.train.labels.length, 15);
  assert.equal(set.train.views[0].length, 15 * tinySpec.featureDim);
  // Augmented views differ from each other.
  assert.notDeepEqual(Array.from(set.train.views[0].subarray(0, 8)), Array.from(set.train.views[1].subarray(0, 8)));
});
