/**
 * train()'s `hooks.batches` replaces fine-tuning's loader (bench:e2e uses it to measure what
 * the data costs an epoch): a source that forwards to the loader changes nothing; the
 * in-memory synthetic source (bench/memory-batches.ts) serves every batch of every epoch in
 * the loader's order, with the loader's labels and shapes, and reads no file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryBatchSource } from '../bench/memory-batches.js';
import { createLoader } from '../src/data/loader.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { buildEvalTransform } from '../src/data/build-transforms.js';
import { imageBatches, type BatchSource } from '../src/train/image-batches.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('hooks.batches: a forwarding source changes nothing; the in-memory source serves every batch in the loader order', async () => {
  const root = await makeColourDataset({ train: 5, val: 3 });
  const base = { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 2, batchSize: 4, lr: 0.05, threads: 1, verifySamples: 0 } as const;
  const plain = await train(root, { ...base, out: await tempDir() });

  const calls: { n: number; shuffle: boolean }[] = [];
  const forward: BatchSource = (samples, transform, o) => {
    calls.push({ n: samples.length, shuffle: o.shuffle });
    return imageBatches(samples, transform, o);
  };
  const forwarded = await train(root, { ...base, out: await tempDir() }, { batches: forward });
  assert.deepEqual(
    forwarded.history.epochs.map((e) => [e.train_loss, e.val_loss]),
    plain.history.epochs.map((e) => [e.train_loss, e.val_loss]),
    'the same losses through the hook',
  );
  // Per epoch: the 15 training images (shuffled) and the 9 val images (in order); then val
  // once more, the kept weights' predictions for the report.
  assert.deepEqual(calls, [
    { n: 15, shuffle: true },
    { n: 9, shuffle: false },
    { n: 15, shuffle: true },
    { n: 9, shuffle: false },
    { n: 9, shuffle: false },
  ]);

  const memory = memoryBatchSource(0);
  const seen: { labels: number[]; shape: number }[] = [];
  const asked: { epoch: number; seed: number }[] = [];
  const watched: BatchSource = (samples, transform, o) => {
    asked.push({ epoch: o.epoch, seed: o.seed });
    const inner = memory.source(samples, transform, o);
    return (async function* () {
      for await (const b of inner) {
        seen.push({ labels: [...b.labels], shape: b.images.length / b.size });
        yield b;
      }
    })();
  };
  const synthetic = await train(root, { ...base, out: await tempDir() }, { batches: watched });
  assert.equal(synthetic.history.epochs.length, 2);
  assert.ok(synthetic.history.epochs.every((e) => Number.isFinite(e.train_loss)));
  assert.equal(memory.batches, seen.length);
  assert.ok(
    seen.every((s) => s.shape === 3 * 16 * 16),
    'the transform output shape',
  );

  // The same order and labels as the loader's for the first training epoch (its epoch key and seed as asked).
  const folder = await scanImageFolder(root);
  const loaderLabels: number[] = [];
  for await (const b of createLoader(folder.train, buildEvalTransform(tinySpec.preprocess), { batchSize: 4, shuffle: true, ...asked[0] })) {
    loaderLabels.push(...b.labels);
  }
  const firstEpoch = seen.slice(0, 4).flatMap((s) => s.labels);
  assert.equal(firstEpoch.length, 15);
  assert.deepEqual(firstEpoch, loaderLabels);
});
