/**
 * `evaluate` on the root a model was trained on when that root held only class folders
 * (split automatically at training time), issue 12 item 2: the model records the split
 * (seed, fraction, a fingerprint of the listing), and evaluate scores exactly the training
 * run's val images — the same confusion matrix as the run's own — or its train images with
 * --split train. --split is honoured or refused with a reason, never ignored. Item 10: a
 * folder holding only some of the model's classes is evaluated with a warning.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { evaluateCommand } from '../src/cli/commands/evaluate.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { evaluate } from '../src/infer/evaluate.js';
import { readClassifier } from '../src/infer/model-file.js';
import { train, type TrainResult } from '../src/train/train.js';
import { COLOURS, makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

let root: string; // class folders only: root/<colour>/*.png
let run: TrainResult;
let folders: string; // train/ and val/ folders
let foldersRun: TrainResult;
const SPLIT = { valSplit: 0.3, seed: 5 };

before(async () => {
  // makeColourDataset writes root/train/<colour> and root/val/<colour>; its train/ alone is a class-folder root.
  const made = await makeColourDataset({ train: 10, val: 3 });
  folders = made;
  root = join(await tempDir('classes-'), 'photos');
  cpSync(join(made, 'train'), root, { recursive: true });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 2, threads: 1, cacheDir, lr: 0.05 } as const;
  run = await train(root, { ...base, ...SPLIT, out: await tempDir() });
  foldersRun = await train(folders, { ...base, out: await tempDir() });
});

test('the model records how its data was split (model.onnx metadata and config.json)', async () => {
  const folder = await scanImageFolder(root, { valFraction: SPLIT.valSplit, seed: SPLIT.seed });
  const meta = (await readClassifier(run.modelPath!)).metadata;
  assert.equal(meta.split?.source, 'split');
  assert.ok(meta.split?.source === 'split');
  assert.equal(meta.split.valFraction, SPLIT.valSplit);
  assert.equal(meta.split.seed, SPLIT.seed);
  assert.equal(meta.split.valImages, folder.val.length);
  assert.equal(meta.split.trainImages, folder.train.length);
  const config = JSON.parse(readFileSync(join(run.out, 'config.json'), 'utf8')) as { data: { split: unknown } };
  assert.deepEqual(config.data.split, meta.split);
  assert.deepEqual((await readClassifier(foldersRun.modelPath!)).metadata.split, { source: 'folders' });
});

test("evaluate on the training root scores that run's val images exactly (its confusion matrix), --split train its train images", async () => {
  const folder = await scanImageFolder(root, { valFraction: SPLIT.valSplit, seed: SPLIT.seed });
  const ev = await evaluate(run.modelPath!, root, { threads: 1 });
  assert.equal(ev.split, 'val');
  assert.equal(ev.reproducedSplit, true);
  assert.equal(ev.metrics.accuracy.total, folder.val.length);
  assert.ok(folder.val.length < 30, 'not all 30 images');
  assert.deepEqual(ev.metrics.confusion, run.metrics!.confusion, "the training run's own val predictions");
  assert.match(ev.notes.join('\n'), /the dataset the model was trained on .*evaluating that run's val images, 9 of 30 \(seed 5, val fraction 30%\)/);

  const tr = await evaluate(run.modelPath!, root, { threads: 1, split: 'train' });
  assert.equal(tr.split, 'train');
  assert.equal(tr.metrics.accuracy.total, folder.train.length);
  await assert.rejects(evaluate(run.modelPath!, root, { threads: 1, split: 'test' }), { code: 'E_BAD_OPTION', message: /has no test images/ });

  // A copy of the same folder elsewhere is recognised too (the fingerprint is of relative paths).
  const copy = join(await tempDir('copy-'), 'elsewhere');
  cpSync(root, copy, { recursive: true });
  const again = await evaluate(run.modelPath!, copy, { threads: 1 });
  assert.deepEqual(again.metrics.confusion, ev.metrics.confusion);
});

test('a dataset root with train/ but no val/ (split at training time) is reproduced the same way', async () => {
  const ds = await tempDir('train-only-');
  cpSync(root, join(ds, 'train'), { recursive: true });
  const r = await train(ds, { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir: await tempDir('cache-'), ...SPLIT, out: await tempDir() });
  const ev = await evaluate(r.modelPath!, ds, { threads: 1 });
  assert.equal(ev.reproducedSplit, true);
  assert.equal(ev.metrics.accuracy.total, 9);
  assert.deepEqual(ev.metrics.confusion, r.metrics!.confusion);
  const tr = await evaluate(r.modelPath!, ds, { threads: 1, split: 'train' });
  assert.equal(tr.metrics.accuracy.total, 21, 'train/ minus the val images split off it');
});

test('--split is refused, with the reason, where it cannot be honoured; without it every image is evaluated', async () => {
  // The training root with one more image: the split cannot be reproduced.
  const changed = join(await tempDir('changed-'), 'photos');
  cpSync(root, changed, { recursive: true });
  cpSync(join(root, COLOURS[0], 'train-0.png'), join(changed, COLOURS[0], 'extra.png'));
  await assert.rejects(evaluate(run.modelPath!, changed, { threads: 1, split: 'val' }), { code: 'E_BAD_OPTION', message: /--split val cannot be applied .*images differ/ });
  const all = await evaluate(run.modelPath!, changed, { threads: 1 });
  assert.equal(all.split, null);
  assert.equal(all.metrics.accuracy.total, 31);
  assert.match(all.notes.join('\n'), /not the folder the model's training run split automatically/);

  // A model trained on train/ and val/ folders: a class-folder dir has no split to reproduce.
  await assert.rejects(evaluate(foldersRun.modelPath!, join(folders, 'val'), { threads: 1, split: 'val' }), {
    code: 'E_BAD_OPTION',
    message: /trained on train\/ and val\/ folders/,
  });
  const plain = await evaluate(foldersRun.modelPath!, join(folders, 'val'), { threads: 1 });
  assert.equal(plain.split, null);
  assert.deepEqual(plain.notes, []);
  // ... and its dataset root uses its val/ folder, as before.
  const viaRoot = await evaluate(foldersRun.modelPath!, folders, { threads: 1 });
  assert.equal(viaRoot.split, 'val');
  assert.deepEqual(viaRoot.metrics.confusion, foldersRun.metrics!.confusion);
});

test('CLI: the note on stderr, --split refused with exit 2', async () => {
  const io = () => {
    const x = { stdout: '', stderr: '', tty: false, out: (t: string) => void (x.stdout += t), err: (t: string) => void (x.stderr += t) } satisfies CommandIO & { stdout: string; stderr: string };
    return x;
  };
  const ok = io();
  assert.equal(await evaluateCommand([run.modelPath!, root, '--threads', '1'], ok), 0, ok.stderr);
  assert.match(ok.stdout, /accuracy .*\(\d+\/9\)/);
  assert.match(ok.stderr, /^note: .*evaluating that run's val images, 9 of 30/);
  const bad = io();
  assert.equal(await evaluateCommand([foldersRun.modelPath!, join(folders, 'val'), '--split', 'val', '--threads', '1'], bad), 2);
  assert.match(bad.stderr, /^error: --split val cannot be applied/);
});

test('a folder holding only some of the model classes: evaluated, with a warning naming the others', async () => {
  const some = join(await tempDir('some-'), 'two');
  mkdirSync(some);
  cpSync(join(folders, 'val', COLOURS[0]), join(some, COLOURS[0]), { recursive: true });
  cpSync(join(folders, 'val', COLOURS[2]), join(some, COLOURS[2]), { recursive: true });
  mkdirSync(join(some, COLOURS[1])); // present but empty
  const ev = await evaluate(foldersRun.modelPath!, some, { threads: 1 });
  assert.equal(ev.metrics.accuracy.total, 6);
  assert.match(ev.warnings.join('\n'), new RegExp(`has no images of \`${COLOURS[1]}\`: its recall cannot be measured`));
  renameSync(join(some, COLOURS[2]), join(some, 'purple'));
  writeFileSync(join(some, 'purple', 'x.txt'), '');
  await assert.rejects(evaluate(foldersRun.modelPath!, some, { threads: 1 }), { code: 'E_BAD_LAYOUT', message: /not in the model: purple/ });
});
