/**
 * Which classes a dataset has, and what follows (issue 12, items 3 and 10): one class is an
 * error from train and the doctor (nothing to classify); a class missing from val, or an
 * empty or undecodable class folder in val, only costs that class's measurement: a warning
 * that says so, and the run goes on.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { doctorCommand } from '../src/cli/commands/doctor.js';
import { trainCommand } from '../src/cli/commands/train.js';
import { doctor } from '../src/data/doctor.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { registerModel } from '../src/models/registry.js';
import { train } from '../src/train/train.js';
import { tempDir as dataTemp, writeImage } from './data-fixtures.js';
import { tempDir, tinySpec } from './train-fixtures.js';

registerModel(tinySpec);

const io = () => {
  const x = { stdout: '', stderr: '', tty: false, out: (t: string) => void (x.stdout += t), err: (t: string) => void (x.stderr += t) } satisfies CommandIO & { stdout: string; stderr: string };
  return x;
};

async function images(root: string, rel: string, n: number, seed: number): Promise<void> {
  for (let i = 0; i < n; i++) await writeImage(join(root, rel, `${i}.png`), 20, 20, seed + i);
}

test('one class: train refuses with E_TOO_FEW_CLASSES naming it; the doctor says NOT USABLE', async () => {
  for (const layout of ['splits', 'class-folders'] as const) {
    const root = dataTemp(`one-class-${layout}`);
    await images(root, layout === 'splits' ? 'train/cat' : 'cat', 6, 1);
    if (layout === 'splits') await images(root, 'val/cat', 2, 50);
    await assert.rejects(scanImageFolder(root), { code: 'E_TOO_FEW_CLASSES', message: /classification needs at least 2 classes; found 1: `cat`/ });
    await assert.rejects(train(root, { model: tinySpec, weights: 'none', epochs: 1, out: await tempDir() }), { code: 'E_TOO_FEW_CLASSES' });
    const r = io();
    assert.equal(await trainCommand([root, '--model', 'tiny_cnn', '--weights', 'none', '--epochs', '1'], r), 1);
    assert.match(r.stderr, /^error: classification needs at least 2 classes; found 1: `cat`/);
    const report = await doctor(root, { inputSize: 16 });
    assert.equal(report.verdict, 'errors');
    assert.ok(report.findings.some((f) => f.severity === 'error' && f.kind === 'too-few-classes'));
    const d = io();
    assert.equal(await doctorCommand([root, '--input-size', '16'], d), 1);
    assert.match(d.stdout, /Verdict: NOT USABLE/);
    assert.match(d.stdout, /classification needs at least 2 classes/);
  }
});

test('a class missing from val, an empty or undecodable val class: a warning naming the consequence, and training goes on', async () => {
  const root = dataTemp('partial-val');
  await images(root, 'train/cat', 6, 1);
  await images(root, 'train/dog', 6, 20);
  await images(root, 'train/owl', 6, 40);
  await images(root, 'train/eel', 6, 60);
  await images(root, 'val/cat', 2, 80);
  mkdirSync(join(root, 'val/dog'), { recursive: true }); // empty
  mkdirSync(join(root, 'val/eel'), { recursive: true });
  writeFileSync(join(root, 'val/eel/broken.png'), 'not an image'); // nothing decodes
  // owl: no val folder at all
  const folder = await scanImageFolder(root);
  assert.deepEqual(folder.classes, ['cat', 'dog', 'eel', 'owl']);
  assert.ok(
    folder.warnings.some((w) => /val\/ has no images of `owl`: its accuracy cannot be measured/.test(w)),
    folder.warnings.join('\n'),
  );
  assert.ok(
    folder.warnings.some((w) => /`val\/dog` holds no image files: the val accuracy of `dog` cannot be measured/.test(w)),
    folder.warnings.join('\n'),
  );

  const report = await doctor(root, { inputSize: 16 });
  assert.equal(report.verdict, 'warnings', report.findings.map((f) => `${f.severity} ${f.message}`).join('\n'));
  assert.ok(report.findings.some((f) => f.kind === 'no-usable-image' && /the val accuracy of `eel` cannot be measured/.test(f.message)));

  const logs: string[] = [];
  const skipped: string[] = [];
  const r = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, out: await tempDir(), cacheDir: await tempDir('cache-') },
    { listeners: [{ log: (e) => void logs.push(`${e.level}: ${e.message}`), skipped_image: (e) => void skipped.push(e.path) }] },
  );
  assert.equal(r.interrupted, false);
  assert.ok(r.modelPath);
  assert.ok(
    logs.some((l) => /^warn: .*`owl`: its accuracy cannot be measured/.test(l)),
    logs.join('\n'),
  );
  assert.deepEqual(skipped, [join(root, 'val/eel/broken.png')]);
  assert.equal(r.metrics?.perClass.find((c) => c.name === 'owl')?.support, 0);
  assert.equal(r.metrics?.perClass.find((c) => c.name === 'cat')?.support, 2);
});

test('the automatic split: a class too small to give val an image is named', async () => {
  const root = dataTemp('auto-split-small');
  await images(root, 'cat', 6, 1);
  await images(root, 'dog', 1, 20);
  const folder = await scanImageFolder(root, { valFraction: 0.2 });
  assert.equal(folder.valSource, 'split');
  assert.ok(
    folder.warnings.some((w) => /automatic val split has no images of `dog`.*its accuracy cannot be measured/.test(w)),
    folder.warnings.join('\n'),
  );
});

test('classes only in val stay an error: the model could never predict them', async () => {
  const root = dataTemp('val-only');
  await images(root, 'train/cat', 2, 1);
  await images(root, 'train/dog', 2, 5);
  await images(root, 'val/cat', 1, 9);
  await images(root, 'val/owl', 1, 11);
  await assert.rejects(scanImageFolder(root), { code: 'E_BAD_LAYOUT', message: /missing from train: owl/ });
});
