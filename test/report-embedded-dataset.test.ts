// The shipped default dataset (assets/fashion-mnist-mini): layout, decodability, size, and
// exact reproducibility from Debian's Fashion-MNIST files by scripts/make_embedded_dataset.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { CLASSES, DEBIAN_SOURCE, TRAIN_PER_CLASS, VAL_PER_CLASS, makeEmbeddedDataset, selectEmbeddedImages } from '../scripts/make_embedded_dataset.js';

const ROOT = fileURLToPath(new URL('../assets/fashion-mnist-mini', import.meta.url));

function listPngs(root: string): string[] {
  const out: string[] = [];
  for (const split of readdirSync(root).sort()) {
    if (!statSync(join(root, split)).isDirectory()) continue;
    for (const cls of readdirSync(join(root, split)).sort()) {
      for (const f of readdirSync(join(root, split, cls)).sort()) out.push(`${split}/${cls}/${f}`);
    }
  }
  return out;
}

async function gray(path: string): Promise<{ width: number; height: number; pixels: Buffer }> {
  const meta = await sharp(path).metadata();
  assert.equal(meta.channels, 1, `${path}: expected a 1-channel grayscale PNG, found ${meta.channels} channels`);
  // sharp expands gray to sRGB in its pipeline; channel 0 holds the gray values unchanged.
  const { data, info } = await sharp(path).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, pixels: data };
}

test('shipped folder: 4 classes, 60 train + 20 val each, licence and readme, under 2 MB', () => {
  const folders = CLASSES.map((c) => c.folder).sort();
  assert.deepEqual(readdirSync(join(ROOT, 'train')).sort(), folders);
  assert.deepEqual(readdirSync(join(ROOT, 'val')).sort(), folders);
  let bytes = 0;
  for (const c of folders) {
    const train = readdirSync(join(ROOT, 'train', c));
    const val = readdirSync(join(ROOT, 'val', c));
    assert.equal(train.length, TRAIN_PER_CLASS, `train/${c}`);
    assert.equal(val.length, VAL_PER_CLASS, `val/${c}`);
    assert.ok(
      train.every((f) => /^train-\d{5}\.png$/.test(f)),
      `train/${c} file names`,
    );
    assert.ok(
      val.every((f) => /^t10k-\d{5}\.png$/.test(f)),
      `val/${c} file names`,
    );
    for (const f of train) bytes += statSync(join(ROOT, 'train', c, f)).size;
    for (const f of val) bytes += statSync(join(ROOT, 'val', c, f)).size;
  }
  assert.ok(bytes < 2 * 1024 * 1024, `dataset is ${bytes} bytes`);
  assert.match(readFileSync(join(ROOT, 'LICENSE'), 'utf8'), /MIT License[\s\S]*Zalando SE/);
  assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /zalandoresearch\/fashion-mnist/);
});

test('every shipped image decodes to a 28x28 grayscale image that is not blank', async () => {
  const files = listPngs(ROOT);
  assert.equal(files.length, CLASSES.length * (TRAIN_PER_CLASS + VAL_PER_CLASS));
  for (const f of files) {
    const { width, height, pixels } = await gray(join(ROOT, f));
    assert.equal(width, 28, f);
    assert.equal(height, 28, f);
    let max = 0;
    for (const v of pixels) max = Math.max(max, v);
    assert.ok(max > 100, `${f} looks blank (max pixel ${max})`);
  }
});

test('the generator reproduces the shipped pixels exactly from the Debian files', async (t) => {
  if (!existsSync(join(DEBIAN_SOURCE, 'train-images-idx3-ubyte.gz'))) {
    t.skip(`Debian dataset-fashion-mnist is not installed (${DEBIAN_SOURCE} missing)`);
    return;
  }
  const out = mkdtempSync(join(tmpdir(), 'headstart-fmnist-'));
  try {
    const n = await makeEmbeddedDataset(out);
    const shipped = listPngs(ROOT);
    assert.equal(n, shipped.length);
    assert.deepEqual(listPngs(out), shipped);
    for (const f of shipped) {
      const a = await gray(join(ROOT, f));
      const b = await gray(join(out, f));
      assert.ok(a.pixels.equals(b.pixels), `${f}: pixels differ from a fresh generation`);
    }
    // and the pixels are the IDX bytes themselves (PNG is lossless)
    for (const img of selectEmbeddedImages()) {
      const f = `${img.split}/${img.folder}/${img.file}`;
      const a = await gray(join(ROOT, f));
      assert.ok(a.pixels.equals(Buffer.from(img.pixels)), `${f}: pixels differ from the Debian IDX source`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
