/**
 * What --resume lets change: options the checkpoint fixes (lr, batch size, optimiser, schedule,
 * mode, model, seed, ...) are refused when given with another value, naming the option, the
 * stored value and the given one; the same value is accepted; --epochs is applied and shown;
 * no note about initialising the classifier (the checkpoint replaces it); the start line never
 * says "epochs 3-2" or "1 classes".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeadstartError } from '../src/errors.js';
import type { TrainListener } from '../src/train/events.js';
import { plainLog } from '../src/train/listeners/plain-log.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

function logCollector(): { lines: string[]; listener: TrainListener } {
  const lines: string[] = [];
  return { lines, listener: plainLog((l) => lines.push(l)) };
}

test('--resume refuses changed fixed options, accepts repeated ones, applies --epochs and says so', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const out = await tempDir();
  const base = { model: tinySpec, weights: 'none', mode: 'features', batchSize: 4, lr: 0.05, threads: 1, cacheDir, seed: 3 } as const;
  await train(root, { ...base, epochs: 1, out });

  const refused = async (extra: Record<string, unknown>, flag: RegExp, stored: string, given: string) => {
    await assert.rejects(train(root, { resume: out, model: tinySpec, threads: 1, cacheDir, ...extra }), (err: unknown) => {
      assert.ok(err instanceof HeadstartError);
      assert.equal(err.code, 'E_INCOMPATIBLE_OPTIONS');
      assert.match(err.message, flag);
      assert.ok(err.message.includes(`started with ${stored}`), `${err.message} names the stored ${stored}`);
      assert.ok(err.message.includes(` ${given} `), `${err.message} names the given ${given}`);
      assert.match(err.hint ?? '', /--epochs/);
      return true;
    });
  };
  await refused({ lr: 0.01 }, /--lr 0\.01/, '0.05', '0.01');
  await refused({ batchSize: 2 }, /--batch-size 2/, '4', '2');
  await refused({ mode: 'finetune' }, /--mode finetune/, 'features', 'finetune');
  await refused({ seed: 9 }, /--seed 9/, '3', '9');
  await refused({ optimizer: { momentum: 0.5 } }, /--momentum 0\.5/, '0.9', '0.5');
  await refused({ scheduler: 'step' }, /--scheduler step/, 'cosine', 'step');
  await refused({ model: 'resnet18' }, /--model resnet18/, 'tiny_cnn', 'resnet18');
  await refused({ weights: 'x.pth' }, /--weights x\.pth/, 'none', 'x.pth');

  // The same values again (the original command line with --resume added) and a larger --epochs.
  const log = logCollector();
  const r = await train(root, { ...base, resume: out, epochs: 2 }, { listeners: [log.listener] });
  assert.equal(r.history.epochs.length, 2);
  assert.equal(r.config.epochs, 2);
  assert.equal(r.config.lr, 0.05);
  const text = log.lines.join('\n');
  assert.match(text, /resuming .* after epoch 1 of 2 \(--epochs 2; the run was started with 1\)/);
  assert.match(text, /: 3 classes, .* epoch 2, cpu x1 thread$/m);
  assert.doesNotMatch(text, /is new|initialised like/);
});

test('the start line says "epoch 1", "1 class", and no epochs left rather than "epochs 3-2"', () => {
  const lines: string[] = [];
  const log = plainLog((l) => lines.push(l));
  const start = (classes: string[], start_epoch: number, epochs: number, threads: number) =>
    (log.run_start as (e: unknown, ctx: unknown) => void)({ model: 'm', mode: 'features', classes, train_images: 3, val_images: 1, epochs, start_epoch, out: 'o', device: 'cpu', threads }, {});
  start(['a'], 1, 1, 1);
  start(['a', 'b'], 3, 2, 2);
  start(['a', 'b'], 2, 25, 2);
  assert.match(lines[0], /: 1 class, 3 train \/ 1 val images, epoch 1, cpu x1 thread$/);
  assert.match(lines[1], /: 2 classes, .*, no epochs left to train \(2 epochs done of 2\), cpu x2 threads$/);
  assert.match(lines[2], /, epochs 2-25, /);
});
