/** scanImageFolder: torchvision's ImageFolder layouts, the seeded stratified split, and the errors it names. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scanImageFolder } from '../src/data/image-folder.js';
import { stratifiedSplit } from '../src/data/stratified-split.js';
import { tempDir } from './data-fixtures.js';

/** Empty files are enough here: the scan reads names, not pixels. */
function touch(root: string, ...paths: string[]): void {
  for (const p of paths) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), '');
  }
}

test('train/ + val/ + test/: classes sorted by code point, labels by position, unlabelled test files get -1', async () => {
  const root = tempDir('scan-splits');
  touch(root, 'train/dog/a.jpg', 'train/dog/b.JPEG', 'train/Cat/c.png', 'train/cat/sub/d.webp', 'train/éclair/e.gif', 'val/dog/f.jpg', 'val/Cat/g.jpg', 'val/cat/h.tif', 'val/éclair/i.jpg');
  touch(root, 'test/1.jpg', 'test/2.png', 'train/dog/.hidden.jpg', 'train/dog/notes.txt', '.DS_Store');
  const ds = await scanImageFolder(root);
  assert.deepEqual(ds.classes, ['Cat', 'cat', 'dog', 'éclair']);
  assert.equal(ds.valSource, 'folder');
  assert.deepEqual(
    ds.train.map((s) => [s.path.slice(root.length + 1), s.label]),
    [
      ['train/Cat/c.png', 0],
      ['train/cat/sub/d.webp', 1],
      ['train/dog/a.jpg', 2],
      ['train/dog/b.JPEG', 2],
      ['train/éclair/e.gif', 3],
    ],
  );
  assert.deepEqual(
    ds.val.map((s) => s.label),
    [0, 1, 2, 3],
  );
  assert.deepEqual(
    ds.test?.map((s) => [s.path.slice(root.length + 1), s.label]),
    [
      ['test/1.jpg', -1],
      ['test/2.png', -1],
    ],
  );
  assert.equal(ds.warnings.length, 1);
  assert.match(ds.warnings[0], /Skipped 2 hidden and 1 non-image file/);
});

test('a root of class folders is split into train/val: seeded, stratified, deterministic', async () => {
  const root = tempDir('scan-flat');
  for (const [c, n] of [
    ['ants', 10],
    ['bees', 25],
    ['wasps', 3],
  ] as const)
    for (let i = 0; i < n; i++) touch(root, `${c}/${String(i).padStart(2, '0')}.jpg`);
  const a = await scanImageFolder(root, { seed: 7 });
  const b = await scanImageFolder(root, { seed: 7 });
  const c = await scanImageFolder(root, { seed: 8, valFraction: 0.4 });
  assert.equal(a.valSource, 'split');
  assert.deepEqual(a, b);
  const count = (s: { label: number }[], label: number) => s.filter((x) => x.label === label).length;
  assert.deepEqual(
    [0, 1, 2].map((l) => count(a.val, l)),
    [2, 5, 1],
  ); // round(0.2 n), at least 1
  assert.deepEqual(
    [0, 1, 2].map((l) => count(a.train, l)),
    [8, 20, 2],
  );
  assert.deepEqual(
    [0, 1, 2].map((l) => count(c.val, l)),
    [4, 10, 1],
  );
  assert.notDeepEqual(
    a.val.map((s) => s.path),
    (await scanImageFolder(root, { seed: 9 })).val.map((s) => s.path),
  );
  const all = new Set([...a.train, ...a.val].map((s) => s.path));
  assert.equal(all.size, 38, 'train and val partition the files');
});

test('train/ without val/ is split too; test/ class folders are labelled', async () => {
  const root = tempDir('scan-trainonly');
  for (let i = 0; i < 5; i++) touch(root, `train/a/${i}.jpg`, `train/b/${i}.jpg`);
  touch(root, 'test/b/x.jpg', 'test/y.jpg');
  const ds = await scanImageFolder(root, { valFraction: 0.4 });
  assert.equal(ds.valSource, 'split');
  assert.equal(ds.val.length, 4);
  assert.deepEqual(
    ds.test?.map((s) => s.label),
    [1, -1],
  );
});

test('errors name the problem: empty class folder, class lists that differ, missing folder', async () => {
  const empty = tempDir('scan-empty');
  touch(empty, 'train/cat/a.jpg', 'train/dog/readme.txt', 'val/cat/b.jpg', 'val/dog/c.jpg');
  await assert.rejects(scanImageFolder(empty), (e: Error & { code?: string }) => e.code === 'E_NO_DATA' && /Class folder `train\/dog` holds no image files/.test(e.message));

  const mismatch = tempDir('scan-mismatch');
  touch(mismatch, 'train/cat/a.jpg', 'train/dog/b.jpg', 'val/cat/c.jpg', 'val/owl/d.jpg');
  await assert.rejects(scanImageFolder(mismatch), { code: 'E_BAD_LAYOUT', message: /train \[cat, dog\], val \[cat, owl\]; missing from val: dog; missing from train: owl/ });

  await assert.rejects(scanImageFolder(join(empty, 'nope')), { code: 'E_NOT_FOUND', message: /cannot be read/ });
  const valOnly = tempDir('scan-valonly');
  touch(valOnly, 'val/cat/a.jpg');
  await assert.rejects(scanImageFolder(valOnly), { code: 'E_BAD_LAYOUT', message: /has val\/ but no train\/ folder/ });
  await assert.rejects(scanImageFolder(empty, { valFraction: 1.5 }), { code: 'E_BAD_OPTION', message: /valFraction/ });
  await assert.rejects(scanImageFolder(empty, { folds: 3 } as never), { code: 'E_BAD_OPTION', message: /folds/ });
});

test('stratifiedSplit keeps one training image per class and leaves single-image classes in train', () => {
  const { train, val } = stratifiedSplit([['a1'], ['b1', 'b2'], []], 0.5, 0);
  assert.deepEqual(train.map((s) => s.label).sort(), [0, 1]);
  assert.deepEqual(
    val.map((s) => s.label),
    [1],
  );
});
