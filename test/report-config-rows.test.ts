/**
 * The report's configuration table is for people: keys in words, no raw camelCase or
 * snake_case, no "null", no 15-digit floats, long lists cut with their length.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configRows } from '../src/report/config-rows.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

const RAW = { camel: /\b[a-z]+[A-Z][a-zA-Z]*\b/, snake: /\b[a-z]+_[a-z_]+\b/, longFloat: /\d\.\d{6,}/ };

test('configRows: words, readable numbers, "not set", yes/no, cut lists', () => {
  const rows = new Map(
    configRows({
      batchSize: 8,
      lr: 0.001,
      backboneLr: null,
      freezeBn: false,
      labelSmoothing: 0.1,
      optimizer: { type: 'sgd', momentum: 0.9, weightDecay: 0.00001 },
      data: { train_images: 240, skipped_images: [], classes: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] },
      feature_cache: { seconds: 12.345678901234567, hit: true },
      auto: { probe_val_acc: 0.9500000000000001 },
    }),
  );
  assert.equal(rows.get('batch size'), '8');
  assert.equal(rows.get('learning rate'), '0.001');
  assert.equal(rows.get('backbone learning rate'), 'not set');
  assert.equal(rows.get('freeze BatchNorm'), 'no');
  assert.equal(rows.get('optimizer · weight decay'), '1e-5');
  assert.equal(rows.get('data · train images'), '240');
  assert.equal(rows.get('data · skipped images'), 'none');
  assert.equal(rows.get('data · classes'), 'a, b, c, d, e, f, … (8 in all)');
  assert.equal(rows.get('feature cache · seconds'), '12.35');
  assert.equal(rows.get('feature cache · hit'), 'yes');
  assert.equal(rows.get('auto · probe val acc'), '0.95');
});

test("a run's report.html: the configuration table has no raw keys, nulls or long floats", async () => {
  const root = await makeColourDataset({ train: 2, val: 1 });
  const out = await tempDir();
  await train(root, { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, out, cacheDir: await tempDir('cache-') });
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  const table = /<table class="config">(.*?)<\/table>/s.exec(html)?.[1] ?? '';
  const cells = [...table.matchAll(/<td class="l">(.*?)<\/td>/g)].map((m) => m[1]);
  assert.ok(cells.length > 20, 'the table is there');
  const keys = cells.filter((_, i) => i % 2 === 0);
  const values = cells.filter((_, i) => i % 2 === 1);
  for (const k of keys) {
    assert.doesNotMatch(k, RAW.camel, k);
    assert.doesNotMatch(k, RAW.snake, k);
  }
  for (const v of values) {
    assert.notEqual(v, 'null');
    assert.doesNotMatch(v, RAW.longFloat, v);
  }
});
