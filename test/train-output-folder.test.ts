/**
 * An existing run folder is never overwritten without --overwrite (issue 12, item 1): a
 * finished run's model, and an interrupted run's checkpoint, survive a repeated command; the
 * error for an interrupted run gives the exact --resume command; runs without --out get fresh
 * folders.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { trainCommand } from '../src/cli/commands/train.js';
import { HeadstartError } from '../src/errors.js';
import { registerModel } from '../src/models/registry.js';
import { freshFolder } from '../src/train/output-folder.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

registerModel(tinySpec);

const isCode = (code: string, message?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof HeadstartError, String(err));
  assert.equal(err.code, code);
  if (message) assert.match(`${err.message} (${err.hint})`, message);
  return true;
};

async function cli(argv: string[]) {
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) } satisfies CommandIO & { stdout: string; stderr: string };
  const code = await trainCommand(argv, io);
  return { code, ...io };
}

test('a finished run in --out is kept: E_OUTPUT_EXISTS without --overwrite, replaced with it', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const out = await tempDir();
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir, out } as const;
  await train(root, base);
  const model = readFileSync(join(out, 'model.onnx'));
  const report = readFileSync(join(out, 'report.html'));
  await assert.rejects(train(root, { ...base, seed: 3 }), isCode('E_OUTPUT_EXISTS', /already holds a finished run \(model\.onnx, checkpoint\.bin\).*--overwrite/));
  assert.ok(readFileSync(join(out, 'model.onnx')).equals(model), 'model.onnx untouched');
  assert.ok(readFileSync(join(out, 'report.html')).equals(report), 'report.html untouched');
  const again = await train(root, { ...base, seed: 3, overwrite: true });
  assert.equal(again.out, out);
  assert.equal(again.interrupted, false);
  assert.ok(!readFileSync(join(out, 'report.html')).equals(report), 'replaced with --overwrite');
});

test('an interrupted run: the repeated command (no --resume) is refused with the exact --resume command; the checkpoint is untouched', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const out = await tempDir();
  const argv = [root, '--model', 'tiny_cnn', '--weights', 'none', '--mode', 'features', '--epochs', '3', '--threads', '1', '--cache-dir', cacheDir, '--out', out];
  const controller = new AbortController();
  const first = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'features', epochs: 3, threads: 1, cacheDir, out },
    { signal: controller.signal, listeners: [{ epoch_end: (e) => void (e.epoch === 1 && controller.abort()) }] },
  );
  assert.equal(first.interrupted, true);
  const checkpoint = readFileSync(join(out, 'checkpoint.bin'));
  const r = await cli(argv);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(r.stderr.includes(`continue it with: headstart train ${root} --resume ${out}`), r.stderr);
  assert.match(r.stderr, /--overwrite/);
  assert.ok(readFileSync(join(out, 'checkpoint.bin')).equals(checkpoint), 'checkpoint.bin untouched');
  // The command it printed works.
  const resumed = await cli([root, '--model', 'tiny_cnn', '--threads', '1', '--cache-dir', cacheDir, '--resume', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.ok(existsSync(join(out, 'model.onnx')));
  // --overwrite starts over: the old checkpoint cannot be resumed by mistake afterwards.
  const controller2 = new AbortController();
  const over = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'features', epochs: 3, threads: 1, cacheDir, out, overwrite: true },
    { signal: controller2.signal, listeners: [{ run_start: () => controller2.abort() }] },
  );
  assert.equal(over.interrupted, true);
  assert.ok(!existsSync(join(out, 'checkpoint.bin')), 'the previous run’s checkpoint is removed');
});

test('a non-empty folder that is not a run is refused too; an empty one is used', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const out = await tempDir();
  mkdirSync(join(out, 'photos'));
  await assert.rejects(
    train(root, { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir: await tempDir('cache-'), out }),
    isCode('E_OUTPUT_EXISTS', /is not empty \(it holds photos\)/),
  );
});

test('without --out, each run gets a fresh folder', async () => {
  const base = join(await tempDir(), 'runs', '20261206-083000-tiny-features');
  assert.equal(freshFolder(base), base);
  mkdirSync(base, { recursive: true });
  assert.equal(freshFolder(base), `${base}-2`);
  mkdirSync(`${base}-2`);
  assert.equal(freshFolder(base), `${base}-3`);
});
