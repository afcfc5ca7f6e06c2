/**
 * A dataset's own documentation at its root (the embedded dataset's LICENSE and README.md) is
 * expected there: no "skipped non-image files" warning. Other stray files still warn.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scanImageFolder } from '../src/data/image-folder.js';
import { makeColourDataset } from './train-fixtures.js';

test('the embedded dataset scans without a warning (its LICENSE and README.md are documentation)', async () => {
  const folder = await scanImageFolder(new URL('../assets/fashion-mnist-mini', import.meta.url).pathname);
  assert.deepEqual(folder.warnings, []);
});

test('documentation at the root is quiet, a stray file is still reported', async () => {
  const root = await makeColourDataset({ train: 2, val: 1 });
  for (const name of ['LICENSE', 'README.md', 'citation.bib']) writeFileSync(join(root, name), 'text');
  assert.deepEqual((await scanImageFolder(root)).warnings, []);
  writeFileSync(join(root, 'labels.bin'), 'x');
  writeFileSync(join(root, 'train', 'red', 'notes.md'), 'x');
  const warnings = (await scanImageFolder(root)).warnings;
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /Skipped 2 non-image file\(s\)/);
});
