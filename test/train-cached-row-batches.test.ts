/**
 * trainRowBatches (the head runner's and the cached partial runner's training batches): each batch holds
 * the rows of its samples in the epoch's seeded order, whether or not the batches before it were released;
 * a released full batch's buffer is reused by the next one (no allocation per step), never while a batch
 * that holds it is live, even if release() is called twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { trainRowBatches } from '../src/train/cached-row-batches.js';

const N = 13;
const D = 5;
const split = {
  views: [Float32Array.from({ length: N * D }, (_, i) => i)],
  labels: Int32Array.from({ length: N }, (_, i) => i % 3),
  paths: Array.from({ length: N }, (_, i) => `s${i}`),
};
const rowOf = (path: string) => Number(path.slice(1));

async function collect(release: 'none' | 'each' | 'twice'): Promise<{ rows: number[][]; xs: Float32Array[] }> {
  const rows: number[][] = [];
  const xs: Float32Array[] = [];
  for await (const b of trainRowBatches(split, D, 4, 7, 2)) {
    // Every row equals its sample's cached row, at the time the batch is used.
    b.paths.forEach((p, i) => assert.deepEqual([...b.x.subarray(i * D, (i + 1) * D)], [...split.views[0].subarray(rowOf(p) * D, (rowOf(p) + 1) * D)], `row of ${p}`));
    rows.push(b.paths.map(rowOf));
    xs.push(b.x);
    if (release === 'each') b.release();
    if (release === 'twice' && xs.length === 1) {
      b.release(); // the first batch released twice, the later ones held
      b.release();
    }
  }
  return { rows, xs };
}

test('trainRowBatches: same rows with and without release; a released full batch is reused, once', async () => {
  const held = await collect('none');
  const each = await collect('each');
  const twice = await collect('twice');
  assert.deepEqual(each.rows, held.rows, 'the same samples in the same order');
  assert.deepEqual(twice.rows, held.rows);
  assert.deepEqual(
    held.rows.map((r) => r.length),
    [4, 4, 4, 1],
  );
  assert.deepEqual(
    [...new Set(held.rows.flat())].sort((a, b) => a - b),
    Array.from({ length: N }, (_, i) => i),
    'every sample once',
  );
  assert.equal(new Set(held.xs).size, 4, 'batches that are not released are never reused');
  assert.equal(each.xs[1], each.xs[0], 'the second full batch reuses the first, released');
  assert.equal(each.xs[2], each.xs[0]);
  assert.notEqual(each.xs[3], each.xs[0], 'the smaller last batch has its own buffer');
  assert.equal(twice.xs[1], twice.xs[0], 'the first batch, released, is reused once');
  assert.notEqual(twice.xs[2], twice.xs[1], 'a second release() does not hand out the buffer of a live batch again');
});
