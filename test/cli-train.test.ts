/**
 * The CLI of train and compare: flag errors (exit code 2, valid choices listed), the --json
 * event stream, the plain output, and the dispatcher.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { compareCommand } from '../src/cli/commands/compare.js';
import { trainCommand } from '../src/cli/commands/train.js';
import { main } from '../src/cli/main.js';
import { registerModel } from '../src/models/registry.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

registerModel(tinySpec);

function capture(): CommandIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    tty: false,
    out: (t: string) => void (io.stdout += t),
    err: (t: string) => void (io.stderr += t),
  };
  return io;
}

async function run(fn: (argv: string[], io: CommandIO) => Promise<number>, argv: string[]) {
  const io = capture();
  const code = await fn(argv, io);
  return { code, ...io };
}

test('flag errors exit with code 2 and list what is valid', async () => {
  let r = await run(trainCommand, ['data', '--epoch', '3']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: unknown flag --epoch for `headstart train` \(did you mean --epochs\?\)/);
  assert.match(r.stderr, /valid flags: --model, .*--mode, .*--epochs, --batch-size, .*--json/);

  r = await run(trainCommand, ['data', '--mode', 'finetuning']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--mode must be one of finetune, features, auto, found `finetuning`/);

  for (const [flag, value, expect] of [
    ['--optimizer', 'adam2', /one of sgd, adam, adamw/],
    ['--scheduler', 'linear', /one of step, cosine, onecycle, none/],
    ['--device', 'gpu', /one of cpu, cuda/],
    ['--recipe', 'keras', /one of torchvision, floydhub, headstart, fastai/],
    ['--lr', '0', /--lr must be `auto` or a positive number, found `0`/],
    ['--lr', 'fast', /--lr must be `auto` or a positive number, found `fast`/],
    ['--lr', '-1', /argument is ambiguous.*--lr=-XYZ/],
    ['--epochs', '2.5', /--epochs must be a whole number >= 1/],
    ['--val-split', '1', /--val-split must be a number > 0 and < 1/],
    ['--class-weights', 'heavy', /--class-weights must be `auto` or positive numbers/],
    ['--momentum', 'x', /--momentum must be a number/],
  ] as const) {
    r = await run(trainCommand, ['data', flag, value]);
    assert.equal(r.code, 2, `${flag} ${value}`);
    assert.match(r.stderr, expect);
  }

  r = await run(trainCommand, []);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing the <data> folder/);
  r = await run(trainCommand, ['data', '--resume']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--resume needs the run folder/);
  r = await run(compareCommand, ['data', '--mode', 'features']);
  assert.equal(r.code, 2, 'compare has no --mode');
  assert.match(r.stderr, /unknown flag --mode/);
});

test('user errors exit with one line: an invalid value (unknown model, contradicting options) with 2, missing data with 1', async () => {
  const root = await makeColourDataset({ train: 2, val: 1 });
  let r = await run(trainCommand, [root, '--model', 'resnet19', '--weights', 'none']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^error: Unknown model `resnet19` \(did you mean resnet18\?\) \(choose one of: resnet18, .*\)\n$/);
  r = await run(trainCommand, [join(root, 'nope'), '--model', 'tiny_cnn', '--weights', 'none']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, 'one line without --verbose');
  r = await run(trainCommand, [root, '--model', 'tiny_cnn', '--weights', 'none', '--json', '--mode', 'features', '--unfreeze-last', '1']);
  assert.equal(r.code, 2);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual(Object.keys(last), ['event', 'code', 'message', 'hint']);
  assert.equal(last.event, 'error');
  assert.match(last.message, /--unfreeze-last 1 contradicts --mode features/);
});

test("--json prints one JSON object per line: epoch events with the issue's fields, done last", async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const out = await tempDir();
  const r = await run(trainCommand, [
    root,
    '--model',
    'tiny_cnn',
    '--weights',
    'none',
    '--mode',
    'features',
    '--epochs',
    '2',
    '--lr',
    '0.05',
    '--threads',
    '1',
    '--json',
    '--out',
    out,
    '--cache-dir',
    await tempDir('cache-'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const epochs = events.filter((e) => e.event === 'epoch');
  assert.equal(epochs.length, 2);
  for (const [i, e] of epochs.entries()) {
    assert.equal(e.epoch, i + 1);
    for (const k of ['train_loss', 'train_acc', 'val_loss', 'val_acc', 'seconds', 'images_per_s']) assert.equal(typeof e[k], 'number', `${k} in ${JSON.stringify(e)}`);
  }
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  assert.equal(typeof done.best_val_acc, 'number');
  assert.equal(typeof done.seconds, 'number');
  assert.equal(done.out, out);
  assert.equal(events[0].event, 'log');
  assert.ok(events.some((e) => e.event === 'run_start'));
  assert.ok(existsSync(join(out, 'model.onnx')));
});

test('plain output (not a TTY) ends with the val accuracy and where the model is', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const out = await tempDir();
  const r = await run(trainCommand, [root, '--model', 'tiny_cnn', '--weights', 'none', '--mode', 'features', '--epochs', '2', '--threads', '1', '--out', out, '--cache-dir', await tempDir('cache-')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^epoch 1\/2 {2}train loss \d\.\d{4} acc [\d.]+% {2}val loss/m);
  assert.match(r.stdout, /val accuracy \d+\.\d\d% \(best of 2 epochs: epoch \d\)/);
  assert.match(r.stdout, new RegExp(`model  ${join(out, 'model.onnx').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('compare runs both recipes with the same budget and plots them together', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const out = await tempDir();
  const r = await run(compareCommand, [
    root,
    '--model',
    'tiny_cnn',
    '--weights',
    'none',
    '--epochs',
    '2',
    '--lr',
    '0.05',
    '--threads',
    '1',
    '--json',
    '--out',
    out,
    '--cache-dir',
    await tempDir('cache-'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(last.event, 'compare');
  assert.equal(typeof last.finetune.cold_seconds, 'number');
  assert.equal(typeof last.features.best_val_acc.mean, 'number');
  assert.equal(typeof last.paired.p, 'number');
  assert.equal(typeof last.verdict, 'string');
  for (const f of ['compare.svg', 'compare.png', 'compare.html', 'compare.json', 'finetune/model.onnx', 'features/model.onnx']) assert.ok(existsSync(join(out, f)), f);
});

test('the dispatcher: help, version, unknown command; the entry point runs as a program', async () => {
  let r = await run(main, ['--help']);
  assert.equal(r.code, 0);
  for (const c of ['train', 'compare', 'predict', 'evaluate', 'export', 'doctor', 'models']) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  r = await run(main, ['trian']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command `trian` \(did you mean `train`\?\)/);
  r = await run(main, ['help', 'train']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /usage: headstart train <data>/);
  assert.match(r.stdout, /--feature-views K/);
  const p = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--version'], { encoding: 'utf8' });
  assert.equal(p.status, 0, p.stderr);
  assert.equal(p.stdout, 'headstart 0.1.0\n');
});
