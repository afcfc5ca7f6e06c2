/**
 * The record of skipped files survives the feature cache (issue 12, item 4): a second run on
 * the same data reads the features from the cache, still reports every file the extraction
 * skipped (with its reason), and config.json counts the images used, not the files listed.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('a cache hit reports the skipped files; config.json counts what was used', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 }); // 3 classes: 12 train, 6 val files
  const broken = [join(root, 'train', 'blue', 'train-0.png'), join(root, 'train', 'red', 'train-1.png'), join(root, 'val', 'green', 'val-0.png')];
  writeFileSync(broken[0], 'not an image');
  writeFileSync(broken[1], '');
  writeFileSync(broken[2], Buffer.from([0x89, 0x50, 0x4e, 0x47])); // a PNG signature, then nothing
  const cacheDir = await tempDir('cache-');
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const skipped: { path: string; reason: string }[] = [];
    const r = await train(
      root,
      { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir, out: await tempDir() },
      { listeners: [{ skipped_image: (e) => void skipped.push({ path: e.path, reason: e.reason }) }] },
    );
    runs.push({ r, skipped: skipped.sort((a, b) => (a.path < b.path ? -1 : 1)), config: JSON.parse(readFileSync(join(r.out, 'config.json'), 'utf8')) as { data: Record<string, unknown> } });
  }
  const [first, second] = runs;
  assert.equal(first.r.featureCache?.hit, false);
  assert.equal(second.r.featureCache?.hit, true, 'the second run reads the cache');
  assert.deepEqual(
    first.skipped.map((s) => s.path),
    [...broken].sort(),
  );
  assert.deepEqual(second.skipped, first.skipped, 'the same files, with the same reasons, on a cache hit');
  for (const { config } of runs) {
    assert.equal(config.data.train_images, 10, 'train images used: 12 listed - 2 unreadable');
    assert.equal(config.data.val_images, 5, 'val images used: 6 listed - 1 unreadable');
    assert.deepEqual([...(config.data.skipped_images as string[])].sort(), [...broken].sort());
  }
});
