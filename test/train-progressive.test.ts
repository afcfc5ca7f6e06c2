/**
 * Progressive resizing: the stage sizes per epoch, the option checks, a run whose early epochs
 * train at a smaller crop (the per-batch loss changes; the exported model is at the final
 * size), and the BatchNorm pass: with momentum 1, averaging each batch's statistics gives the
 * statistics of the whole pass (checked against the mean of per-batch statistics computed here).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { loadInitialParams } from '../src/graphs/initial-params.js';
import { readClassifier } from '../src/infer/model-file.js';
import { trainableFilter } from '../src/models/trainable.js';
import { createFinetuneRunner } from '../src/train/finetune-runner.js';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import { checkProgressive, progressiveSize, RunningStatsAverage } from '../src/train/progressive-resizing.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('progressiveSize splits the epochs into equal stages; checkProgressive refuses lists that cannot work', () => {
  assert.deepEqual(
    Array.from({ length: 25 }, (_, i) => progressiveSize(i + 1, 25, [128, 224])),
    [...Array<number>(13).fill(128), ...Array<number>(12).fill(224)],
  );
  assert.deepEqual(
    Array.from({ length: 6 }, (_, i) => progressiveSize(i + 1, 6, [64, 96, 128])),
    [64, 64, 96, 96, 128, 128],
  );
  assert.throws(() => checkProgressive([128, 192], 224, 10), { code: 'E_INCOMPATIBLE_OPTIONS' });
  assert.throws(() => checkProgressive([224, 128, 224], 224, 10), { code: 'E_BAD_OPTION' });
  assert.throws(() => checkProgressive([64, 128, 224], 224, 2), { code: 'E_INCOMPATIBLE_OPTIONS' });
  checkProgressive([112, 224], 224, 2);
});

test('RunningStatsAverage writes the mean of the statistics each step left (or restores them when no step ran)', () => {
  const t = { dtype: 'float32' as const, shape: [2], data: Float32Array.from([9, 9]) };
  const params = new Map([['bn.running_mean', t]]);
  const avg = new RunningStatsAverage(params, ['bn.running_mean']);
  for (const v of [
    [1, 2],
    [3, 6],
    [5, 1],
  ]) {
    t.data.set(v);
    avg.add();
  }
  avg.finish(new Map([['bn.running_mean', Float32Array.from([9, 9])]]));
  assert.deepEqual(Array.from(t.data), [3, 3]);
  const none = new RunningStatsAverage(params, ['bn.running_mean']);
  none.finish(new Map([['bn.running_mean', Float32Array.from([7, 8])]]));
  assert.deepEqual(Array.from(t.data), [7, 8]);
});

test('--progressive 8,16 trains the first epoch at 8 px, the second at 16, and exports the 16 px model', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const base = { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 2, lr: 0.05, batchSize: 4, threads: 1 } as const;
  const plain = await train(root, { ...base, out: await tempDir() });
  const out = await tempDir();
  const r = await train(root, { ...base, progressive: [8, 16], out });
  assert.equal(r.history.epochs.length, 2);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.deepEqual(config.progressive, [8, 16]);
  // Epoch 1 ran at another size: its losses differ from the plain run's; the model file is at the final size.
  assert.notEqual(r.history.epochs[0].train_loss, plain.history.epochs[0].train_loss);
  assert.ok(Number.isFinite(r.history.epochs[0].val_loss) && Number.isFinite(r.history.epochs[1].val_loss));
  const file = await readClassifier(join(out, 'model.onnx'));
  assert.equal(file.metadata.preprocess.inputSize, 16);
  await assert.rejects(train(root, { ...base, progressive: [8, 12], out: await tempDir() }), { code: 'E_INCOMPATIBLE_OPTIONS' });
  await assert.rejects(train(root, { ...base, mode: 'features', progressive: [8, 16], out: await tempDir(), cacheDir: await tempDir('cache-') }), { code: 'E_INCOMPATIBLE_OPTIONS' });
});

test('the BatchNorm pass at the final size replaces the running statistics, whatever they were, deterministically', async () => {
  const root = await makeColourDataset({ train: 5, val: 2 });
  const folder = await scanImageFolder(root);
  const spec = tinySpec;
  const config = resolveTrainConfig(parseTrainOptions({ weights: 'none', epochs: 2, batchSize: 4, progressive: [8, 16] }), 'finetune', spec.name, 'none');
  const init = await loadInitialParams(spec, { weights: 'none', numClasses: 3, inputSize: 16, seed: 0 });
  const params = init.params;
  const pre = spec.preprocess;
  const runner = await createFinetuneRunner({
    spec,
    params,
    numClasses: 3,
    inputSize: 16,
    train: folder.train,
    val: folder.val,
    trainTransform: buildTrainTransform(pre),
    evalTransform: buildEvalTransform(pre),
    transformAt: (size) => buildTrainTransform({ ...pre, inputSize: size, resizeSize: size }),
    config,
    trainable: trainableFilter(spec, { mode: 'finetune' }),
    session: { threads: 1 },
    onSkip: () => {},
  });
  const names = [...params.keys()].filter((n) => /running_(mean|var)$/.test(n));
  assert.ok(names.length >= 4, `the tiny network has BatchNorm running statistics (${names.join(', ')})`);
  const snapshot = () => names.map((n) => Array.from(params.get(n)!.data as Float32Array));
  const garbage = (v: number) => names.forEach((n) => (params.get(n)!.data as Float32Array).fill(v));
  garbage(5);
  await runner.afterTrainPhase!(1);
  const first = snapshot();
  assert.ok(
    first.flat().every((v) => Number.isFinite(v) && v !== 5),
    'every statistic was recomputed',
  );
  garbage(-3);
  await runner.afterTrainPhase!(1);
  assert.deepEqual(snapshot(), first, 'the pass does not depend on the previous statistics');
  garbage(5);
  await runner.afterTrainPhase!(2); // epoch 2 is at the final size: nothing to recompute
  assert.ok(
    snapshot()
      .flat()
      .every((v) => v === 5),
  );
  await runner.release();
});
