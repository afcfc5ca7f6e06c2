/**
 * The augmentation presets and MixUp/CutMix through `train()`: recorded in config.json, used
 * by the run (the losses change), feature views drawn from the preset (another cache key),
 * and the combinations that cannot work refused with a code.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('--augment trivial --mixup --cutmix fine-tunes, is recorded in config.json, and changes the training losses', async () => {
  const root = await makeColourDataset({ train: 8, val: 3 });
  const base = { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 2, lr: 0.05, batchSize: 4, threads: 1 } as const;
  const plain = await train(root, { ...base, out: await tempDir() });
  const out = await tempDir();
  const mixed = await train(root, { ...base, augment: 'trivial', mixup: 0.4, cutmix: 1, out });
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.augment, 'trivial');
  assert.equal(config.mixup, 0.4);
  assert.equal(config.cutmix, 1);
  for (const e of mixed.history.epochs) {
    assert.ok(Number.isFinite(e.train_loss) && e.train_acc >= 0 && e.train_acc <= 1);
  }
  assert.notEqual(mixed.history.epochs[0].train_loss, plain.history.epochs[0].train_loss, 'mixing changes what the network is trained on');
});

test('--augment false and none train on the eval transform alike; --mixup with --mode features is refused with E_INCOMPATIBLE_OPTIONS', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const base = { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 1, lr: 0.05, threads: 1 } as const;
  const a = await train(root, { ...base, augment: false, out: await tempDir() });
  const b = await train(root, { ...base, augment: 'none', out: await tempDir() });
  assert.deepEqual(a.history.epochs[0].train_loss, b.history.epochs[0].train_loss);
  await assert.rejects(train(root, { ...base, mode: 'features', mixup: 0.2, out: await tempDir(), cacheDir: await tempDir('cache-') }), { code: 'E_INCOMPATIBLE_OPTIONS' });
  await assert.rejects(train(root, { ...base, augment: 'heavy' as never, out: await tempDir() }), { code: 'E_BAD_OPTION' });
});

test('--feature-views K draws its views from the --augment preset (a randaugment cache is not a basic one)', async () => {
  const root = await makeColourDataset({ train: 3, val: 2 });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, featureViews: 2, threads: 1, cacheDir } as const;
  const basic = await train(root, { ...base, out: await tempDir() });
  const rand = await train(root, { ...base, augment: 'randaugment', out: await tempDir() });
  assert.notEqual(basic.featureCache!.path, rand.featureCache!.path);
  assert.equal(rand.featureCache!.hit, false);
});

test('--mode auto with --mixup fine-tunes, and says why', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const logs: string[] = [];
  const r = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'auto', epochs: 1, lr: 0.05, mixup: 0.2, threads: 1, out: await tempDir(), cacheDir: await tempDir('cache-') },
    { listeners: [{ log: (e) => void logs.push(e.message) }] },
  );
  assert.equal(r.mode, 'finetune');
  assert.ok(
    logs.some((l) => /--mode auto chose fine-tuning: --mixup applies only to fine-tuning/.test(l)),
    logs.join('\n'),
  );
});
