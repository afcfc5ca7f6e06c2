/**
 * --resume: a run interrupted (AbortSignal, as Ctrl-C does) and resumed ends with exactly the
 * same weights, optimiser state and history values as an uninterrupted run with the same seed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCheckpoint, type CheckpointState } from '../src/train/checkpoint.js';
import type { TrainListener } from '../src/train/events.js';
import { train } from '../src/train/train.js';
import type { NamedTensors } from '../src/tensor.js';
import { makeColourDataset, tempDir, tinySpec, tinySpecDropout } from './train-fixtures.js';

function assertSameTensors(a: NamedTensors, b: NamedTensors, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()], `${what}: same parameter names`);
  for (const [name, t] of a) {
    const u = b.get(name)!;
    assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength)), `${what}: \`${name}\` differs`);
  }
}

function assertSameRun(a: CheckpointState, b: CheckpointState): void {
  assert.equal(a.epoch, b.epoch);
  assertSameTensors(a.params, b.params, 'final weights');
  assert.ok(a.best && b.best);
  assert.equal(a.best.epoch, b.best.epoch);
  assertSameTensors(a.best.params, b.best.params, 'best weights');
  const strip = (s: CheckpointState) => s.history.epochs.map(({ seconds: _s, images_per_s: _i, ...rest }) => rest);
  assert.deepEqual(strip(a), strip(b));
  for (const [name, st] of Object.entries(a.optimizer.state)) {
    const x = st.momentumBuffer as Float32Array;
    const y = b.optimizer.state[name].momentumBuffer as Float32Array;
    assert.ok(x instanceof Float32Array && y instanceof Float32Array, `momentum buffers of ${name}`);
    assert.ok(Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength)), `momentum of ${name} differs`);
  }
}

/** A listener that aborts the run when `when` says so (what Ctrl-C does). */
function abortWhen(controller: AbortController, when: (event: string, e: { epoch: number | null; batch?: number; phase?: string }) => boolean): TrainListener {
  const check = (name: string) => (e: { epoch: number | null; batch?: number; phase?: string }) => {
    if (when(name, e)) controller.abort();
  };
  return { epoch_end: check('epoch_end'), batch_end: check('batch_end') };
}

const cases = [
  {
    mode: 'finetune',
    spec: tinySpec,
    stop: (n: string, e: { epoch: number | null; batch?: number; phase?: string }) => n === 'batch_end' && e.epoch === 3 && e.phase === 'train' && e.batch === 2,
    label: 'interrupted mid-epoch 3',
  },
  { mode: 'finetune', spec: tinySpecDropout, stop: (n: string, e: { epoch: number | null }) => n === 'epoch_end' && e.epoch === 2, label: 'with dropout, interrupted after epoch 2' },
  { mode: 'features', spec: tinySpecDropout, stop: (n: string, e: { epoch: number | null }) => n === 'epoch_end' && e.epoch === 2, label: 'interrupted after epoch 2' },
] as const;

for (const c of cases) {
  test(`--resume (${c.mode}, ${c.label}) ends with the same bytes as an uninterrupted 3-epoch run`, async () => {
    const root = await makeColourDataset({ train: 10, val: 4 });
    const cacheDir = await tempDir('cache-');
    // onecycle steps per batch, so the schedule state is exercised mid-run too.
    const base = { model: c.spec, weights: 'none', mode: c.mode, epochs: 3, batchSize: 8, lr: 0.05, scheduler: 'onecycle', threads: 1, cacheDir, seed: 7 } as const;

    const full = await tempDir();
    await train(root, { ...base, out: full });

    const part = await tempDir();
    const controller = new AbortController();
    const first = await train(root, { ...base, out: part }, { signal: controller.signal, listeners: [abortWhen(controller, c.stop)] });
    assert.equal(first.interrupted, true);
    assert.equal(first.modelPath, null);
    assert.equal((await readCheckpoint(join(part, 'checkpoint.bin'))).epoch, 2);
    assert.ok(!existsSync(join(part, 'model.onnx')));

    const resumed = await train(root, { resume: part, threads: 1, cacheDir, model: c.spec });
    assert.equal(resumed.interrupted, false);
    assert.equal(resumed.history.epochs.length, 3);
    assert.ok(existsSync(join(part, 'model.onnx')));
    assertSameRun(await readCheckpoint(join(full, 'checkpoint.bin')), await readCheckpoint(join(part, 'checkpoint.bin')));
  });
}

test('--resume refuses another model and a folder without a checkpoint', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const out = await tempDir();
  await assert.rejects(train(root, { resume: out, model: tinySpec }), /No checkpoint to resume/);
  await train(root, { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, out, cacheDir: await tempDir('cache-') });
  await assert.rejects(train(root, { resume: out, model: tinySpecDropout }), /was trained with --model tiny_cnn/);
});
