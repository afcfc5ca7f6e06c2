/**
 * `--engine` through `train()`: a one-epoch ResNet18 fine-tune (32x32, random weights) on the native
 * oneDNN step, its engine in config.json and in the run's log; `--engine native` where the native
 * engine cannot run (a model with an op it lacks, the addon disabled) is a coded error, and `auto` then
 * keeps ONNX Runtime. The native runs are skipped where the addon is not built (npm run build:native).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { nativePlanUnavailable } from '../src/engine/native-plan.js';
import { HeadstartError } from '../src/errors.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

const skip = nativePlanUnavailable() ?? false;
const base = { model: 'resnet18', weights: 'none', mode: 'finetune', epochs: 1, batchSize: 4, inputSize: 32, lr: 0.01, threads: 1 } as const;

const config = (out: string) => JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { engine: string; engine_used?: string; stochasticDepth?: number };
const logLines = (out: string) =>
  readFileSync(join(out, 'events.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event?: string; type?: string; message?: string })
    .map((e) => e.message ?? '');

test('--engine native fine-tunes ResNet18 for an epoch; config.json and the log name the engine', { skip }, async () => {
  const root = await makeColourDataset({ train: 6, val: 2, size: 36 });
  const out = await tempDir();
  const r = await train(root, { ...base, engine: 'native', out });
  assert.equal(r.history.epochs.length, 1);
  assert.ok(Number.isFinite(r.history.epochs[0].train_loss), `a finite train loss, found ${r.history.epochs[0].train_loss}`);
  assert.equal(config(out).engine, 'native');
  assert.equal(config(out).engine_used, 'native');
  assert.ok(
    logLines(out).some((m) => /training step and val phase: native oneDNN engine/.test(m)),
    'the log names the native engine',
  );
});

test('--engine native with an op it lacks, or with the addon disabled: coded errors; auto falls back to ONNX Runtime', { skip }, async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  // tiny_cnn's convolutions have a bias: not a native op.
  await assert.rejects(
    train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 1, threads: 1, engine: 'native', out: await tempDir() }),
    (err: unknown) => err instanceof HeadstartError && err.code === 'E_UNSUPPORTED_OP' && /Conv .*bias/.test(err.message),
  );
  const out = await tempDir();
  await train(root, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 1, threads: 1, out });
  assert.equal(config(out).engine_used, 'onnx');
  assert.ok(
    logLines(out).some((m) => /ONNX Runtime \(--engine auto: .*bias/.test(m)),
    'the log says why auto kept ONNX Runtime',
  );
  process.env.HEADSTART_NATIVE_CONV = '0';
  try {
    await assert.rejects(
      train(root, { ...base, engine: 'native', out: await tempDir() }),
      (err: unknown) => err instanceof HeadstartError && err.code === 'E_DEVICE' && /HEADSTART_NATIVE_CONV=0/.test(err.message),
    );
  } finally {
    delete process.env.HEADSTART_NATIVE_CONV;
  }
});

test('--engine native that cannot run fails before the dataset is scanned or the output folder claimed: the model, the reason, a hint', async () => {
  const missing = join(await tempDir(), 'no-such-dataset');
  const out = join(await tempDir(), 'run');
  process.env.HEADSTART_NATIVE_CONV = '0';
  try {
    await assert.rejects(
      train(missing, { ...base, engine: 'native', out }),
      (err: unknown) =>
        err instanceof HeadstartError &&
        err.code === 'E_DEVICE' &&
        /--engine native cannot run resnet18: .*HEADSTART_NATIVE_CONV=0/.test(err.message) &&
        /npm run build:native/.test(err.hint ?? '') &&
        /--engine auto/.test(err.hint ?? ''),
    );
  } finally {
    delete process.env.HEADSTART_NATIVE_CONV;
  }
  await assert.rejects(
    train(missing, { ...base, engine: 'native', device: 'cuda', out }),
    (err: unknown) => err instanceof HeadstartError && err.code === 'E_INCOMPATIBLE_OPTIONS' && /--device cuda/.test(err.message),
  );
  // --mode features never runs the fine-tuning step: --engine native is no obstacle there (the missing dataset is).
  process.env.HEADSTART_NATIVE_CONV = '0';
  try {
    await assert.rejects(
      train(missing, { ...base, mode: 'features', engine: 'native', out: join(await tempDir(), 'features-run') }),
      (err: unknown) => err instanceof HeadstartError && err.code !== 'E_DEVICE',
    );
  } finally {
    delete process.env.HEADSTART_NATIVE_CONV;
  }
  assert.equal(existsSync(out), false, 'no output folder was created');
});

test('--engine native with a model whose op the native engine lacks fails before the dataset is scanned', { skip }, async () => {
  const missing = join(await tempDir(), 'no-such-dataset');
  await assert.rejects(
    train(missing, { model: tinySpec, weights: 'none', mode: 'finetune', epochs: 1, threads: 1, engine: 'native', out: await tempDir() }),
    (err: unknown) => err instanceof HeadstartError && err.code === 'E_UNSUPPORTED_OP' && /cannot run tiny_cnn: unsupported Conv .*bias/.test(err.message) && /--engine auto/.test(err.hint ?? ''),
  );
});

test('--engine auto fine-tunes efficientnet_b0 on the native engine (SiLU, squeeze-excitation, 5x5 depthwise)', { skip }, async () => {
  const root = await makeColourDataset({ train: 6, val: 2, size: 36 });
  const out = await tempDir();
  // 64 px: at 32 px its last stages run on 1x1 maps and the val loss of this random-weight run is NaN on both engines.
  const r = await train(root, { ...base, model: 'efficientnet_b0', inputSize: 64, out });
  assert.ok(Number.isFinite(r.history.epochs[0].train_loss), `a finite train loss, found ${r.history.epochs[0].train_loss}`);
  assert.equal(config(out).engine, 'auto');
  assert.equal(config(out).engine_used, 'native');
  // Its stochastic depth (torchvision's 0.2) ran: the resolved rate is recorded.
  assert.equal(config(out).stochasticDepth, 0.2);
});
