/**
 * How a run fails: a diverging loss stops it with a clear message and keeps the last good
 * checkpoint; images that cannot be loaded are skipped and reported, never fatal.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import { TrainingError } from '../src/errors.js';
import { createRunOptimizer } from '../src/train/run-optimizer.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import type { ModeRunner, RunnerBatch } from '../src/train/mode-runner.js';
import type { ModelSpec } from '../src/models/model-spec.js';
import { EventBus, type RunBus } from '../src/train/events.js';
import { createHistory } from '../src/metrics/history.js';
import { checkpointSaver } from '../src/train/listeners/checkpoint-saver.js';
import { fit, type FitState } from '../src/train/fit.js';
import { createRunContext } from '../src/train/run-context.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('a NaN loss (lr 1e9) stops the run with a message naming the epoch, the lr and what to do', async () => {
  const root = await makeColourDataset({ train: 10, val: 4 });
  const out = await tempDir();
  await assert.rejects(train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 2, lr: 1e9, threads: 1, out }), (err: unknown) => {
    assert.ok(err instanceof TrainingError);
    assert.match(err.message, /loss became (NaN|-?Infinity) at epoch 1, batch \d+\/4 with lr 1e\+9/);
    assert.match(err.hint ?? '', /lower --lr/);
    return true;
  });
  assert.ok(!existsSync(join(out, 'model.onnx')));
  assert.ok(!existsSync(join(out, 'checkpoint.bin')));
});

test("a NaN loss in epoch 2 keeps epoch 1's checkpoint on disk, readable, and says where it is", async () => {
  const out = await tempDir();
  const config = resolveTrainConfig(parseTrainOptions({ epochs: 3, weights: 'none', lr: 1, optimizer: { momentum: 0 } }), 'features', 'fake', 'none');
  const param = { name: 'w', data: new Float32Array([1, 2]) };
  const spec = { head: { name: 'fc' } } as ModelSpec;
  const { optimizer, scheduler } = createRunOptimizer(config, spec, [param], 1);
  const batch = (): RunnerBatch => ({ labels: Int32Array.of(0), paths: ['x'], release: () => {} });
  async function* one() {
    yield batch();
  }
  const runner: ModeRunner = {
    trainImages: 1,
    valImages: 1,
    trainBatchCount: 1,
    valBatchCount: 1,
    optimizer: optimizer,
    scheduler,
    changing: new Map([['w', { dtype: 'float32', shape: [2], data: param.data }]]),
    trainBatches: one,
    async trainStep(_b, epoch) {
      return { loss: epoch === 2 ? NaN : 1 / epoch, logits: Float32Array.of(1, 0), grads: new Map([['w', Float32Array.of(-1, 0)]]) };
    },
    valBatches: one,
    async evalStep() {
      return { loss: 0.5, logits: Float32Array.of(1, 0) };
    },
    async release() {},
  };
  const state: FitState = { epoch: 0, history: createHistory(), best: null, stopReason: null };
  const bus = new EventBus();
  const ref: { bus?: RunBus } = {};
  const { ctx, tracker } = createRunContext({ out, config, classes: ['a', 'b'], state, runner: () => runner, lastCheckpoint: null, emit: (n, p) => ref.bus!.emit(n, p) });
  bus.add(tracker);
  bus.add(checkpointSaver(out));
  const runBus = (ref.bus = bus.forRun(ctx));
  await assert.rejects(fit({ runner, bus: runBus, ctx, config, state, numClasses: 2 }), (err: unknown) => {
    assert.ok(err instanceof TrainingError);
    assert.match(err.message, /loss became NaN at epoch 2/);
    assert.match(err.hint ?? '', new RegExp(`last good checkpoint \\(epoch 1\\) is kept at ${join(out, 'checkpoint.bin').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    return true;
  });
  const saved = await readCheckpoint(join(out, 'checkpoint.bin'));
  assert.equal(saved.epoch, 1);
  assert.deepEqual(Array.from(saved.params.get('w')!.data as Float32Array), [2, 2]);
});

for (const mode of ['finetune', 'features'] as const) {
  test(`${mode}: an image that fails to load is skipped and reported, never fatal`, async () => {
    const root = await makeColourDataset({ train: 8, val: 4 });
    const truncated = join(root, 'train', 'red', 'zz-truncated.png');
    const good = readFileSync(join(root, 'train', 'red', 'train-0.png'));
    writeFileSync(truncated, good.subarray(0, 40));
    const text = join(root, 'val', 'blue', 'zz-text.png');
    writeFileSync(text, 'this is not an image\n');
    const skipped: string[] = [];
    const out = await tempDir();
    const r = await train(
      root,
      {
        model: tinySpec,
        weights: 'none',
        mode,
        epochs: 2,
        lr: 0.05,
        threads: 1,
        out,
        cacheDir: await tempDir('cache-'),
      },
      { listeners: [{ skipped_image: (e) => void skipped.push(e.path) }] },
    );
    assert.equal(r.interrupted, false);
    assert.deepEqual([...new Set(skipped)].sort(), [text, truncated].sort());
    assert.equal(skipped.length, 2, 'each bad file is reported once');
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.deepEqual([...config.data.skipped_images].sort(), [text, truncated].sort());
    assert.ok(existsSync(join(out, 'model.onnx')));
  });
}
