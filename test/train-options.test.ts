/**
 * Options that change what trains and when the run stops: --unfreeze-last, --freeze-bn,
 * --early-stop, --class-weights auto, --label-smoothing, AdamW with a cosine schedule.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCheckpoint } from '../src/train/checkpoint.js';
import type { TrainOptions } from '../src/train/options.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

const base = { model: tinySpec, weights: 'none', epochs: 2, threads: 1, lr: 0.05 } as const;

test('--unfreeze-last 1 trains only the last stage and the head; --freeze-bn keeps BatchNorm statistics fixed', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  let out = await tempDir();
  await train(root, { ...base, mode: 'finetune', unfreezeLast: 1, out });
  let ckpt = await readCheckpoint(join(out, 'checkpoint.bin'));
  assert.deepEqual([...ckpt.params.keys()].sort(), ['bn2.bias', 'bn2.running_mean', 'bn2.running_var', 'bn2.weight', 'fc.bias', 'fc.weight']);

  out = await tempDir();
  await train(root, { ...base, mode: 'finetune', freezeBn: true, out });
  ckpt = await readCheckpoint(join(out, 'checkpoint.bin'));
  const names = [...ckpt.params.keys()];
  assert.ok(names.includes('conv1.weight') && names.includes('bn1.weight'));
  assert.ok(!names.some((n) => n.includes('running_')), 'no running statistic changes');
  const init = ckpt.params.get('bn1.weight')!.data;
  assert.ok(
    init.some((v) => v !== 1),
    'BatchNorm affine parameters still train',
  );
});

test('--early-stop 1 stops when val accuracy does not improve, and says so', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const stops: number[] = [];
  const r = await train(
    root,
    { ...base, mode: 'features', epochs: 6, lr: 1e-9, optimizer: { momentum: 0 }, earlyStop: 1, out: await tempDir(), cacheDir: await tempDir('cache-') },
    { listeners: [{ early_stop: (e) => void stops.push(e.epoch) }] },
  );
  assert.equal(r.history.epochs.length, 2);
  assert.deepEqual(stops, [2]);
  assert.match(r.stoppedEarly ?? '', /not improved for 1 epochs/);
  assert.equal(r.bestEpoch, 1);
});

test('class weights, label smoothing, AdamW + cosine, one-cycle: runs end with finite losses', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const logs: string[] = [];
  for (const opts of [
    { classWeights: 'auto', labelSmoothing: 0.1 },
    { optimizer: 'adamw', scheduler: 'cosine', lr: 1e-2 },
    { scheduler: { type: 'onecycle', maxLr: 0.1 } },
    { classWeights: [1, 2, 3] },
  ] as TrainOptions[]) {
    const r = await train(root, { ...base, mode: 'features', ...opts, out: await tempDir(), cacheDir: await tempDir('cache-') }, { listeners: [{ log: (e) => void logs.push(e.message) }] });
    assert.ok(
      r.history.epochs.every((e) => Number.isFinite(e.train_loss) && Number.isFinite(e.val_loss)),
      JSON.stringify(opts),
    );
  }
  assert.ok(
    logs.some((l) => /^class weights \(balanced\): blue 1\.000, green 1\.000, red 1\.000$/.test(l)),
    logs.join('\n'),
  );
  await assert.rejects(train(root, { ...base, mode: 'features', classWeights: [1, 2], out: await tempDir() }), /--class-weights has 2 values for 3 classes/);
});
