/**
 * Ctrl-C: the first SIGINT stops `headstart train` at the next batch, keeps the last finished
 * epoch's checkpoint, prints how to resume and exits with 130; --resume then finishes the run.
 * Also: --device cuda without a usable CUDA provider fails at once with one line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { trainCommand } from '../src/cli/commands/train.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { assertDeviceUsable } from '../src/engine/device-check.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('--device cuda without a usable CUDA provider fails before any work, in one line', async (t) => {
  const usable = await assertDeviceUsable('cuda').then(
    () => true,
    () => false,
  );
  if (usable) return t.skip('this machine has a working CUDA provider for ONNX Runtime');
  let stderr = '';
  const code = await trainCommand(['/nonexistent-data', '--device', 'cuda'], { out: () => {}, err: (s) => void (stderr += s), tty: false });
  assert.equal(code, 1);
  assert.match(stderr, /^error: --device cuda: /);
  assert.match(stderr, /use --device cpu/);
  assert.equal(stderr.trim().split('\n').length, 1);
});

test('SIGINT saves, says how to resume, exits 130; --resume finishes the run', async () => {
  const root = await makeColourDataset({ train: 8, val: 3 });
  const out = await tempDir();
  const child = fileURLToPath(new URL('./cli-sigint-child.ts', import.meta.url));
  const args = ['train', root, '--model', 'tiny_cnn', '--weights', 'none', '--mode', 'finetune', '--epochs', '400', '--threads', '1', '--out', out];
  const p = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sent = false;
  p.stderr.on('data', (d) => (stderr += d));
  p.stdout.on('data', (d) => {
    stdout += d;
    if (!sent && /^epoch +3\/400/m.test(stdout)) {
      sent = true;
      p.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => p.once('exit', (c) => resolve(c)));
  assert.ok(sent, `the run reached epoch 3 (stderr: ${stderr})`);
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopping after this batch/);
  const m = /interrupted: epoch (\d+) is saved in (\S+); continue with: headstart train .* --resume (\S+)/.exec(stdout);
  assert.ok(m, stdout.slice(-500));
  const saved = await readCheckpoint(join(out, 'checkpoint.bin'));
  assert.equal(saved.epoch, Number(m[1]));
  assert.ok(saved.epoch >= 3);
  assert.ok(existsSync(join(out, 'history.json')));
  assert.ok(!existsSync(join(out, 'model.onnx')));

  const r = await train(root, { resume: out, model: tinySpec, epochs: saved.epoch + 1, threads: 1 });
  assert.equal(r.history.epochs.length, saved.epoch + 1);
  assert.ok(existsSync(join(out, 'model.onnx')));
});
