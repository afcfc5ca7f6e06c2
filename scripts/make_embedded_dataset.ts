/**
 * Builds assets/fashion-mnist-mini/ — the small real dataset headstart ships as its default —
 * from Debian's `dataset-fashion-mnist` files (IDX format, gzip). Deterministic: for each of
 * four visually distinct classes it takes the first TRAIN_PER_CLASS images of that class in
 * the training file and the first VAL_PER_CLASS in the test file, and writes them as 28x28
 * grayscale PNGs named after their index in the source file.
 *
 *   node --import tsx scripts/make_embedded_dataset.ts [--source DIR] [--out DIR]
 *
 * Fashion-MNIST: Zalando Research, MIT licence (https://github.com/zalandoresearch/fashion-mnist).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';

export const DEBIAN_SOURCE = '/usr/share/datasets/fashion-mnist';
export const DEFAULT_OUT = fileURLToPath(new URL('../assets/fashion-mnist-mini', import.meta.url));
export const IMAGE_SIZE = 28;
export const TRAIN_PER_CLASS = 60;
export const VAL_PER_CLASS = 20;

/** Folder name -> Fashion-MNIST label. Chosen to be easy to tell apart, even at 28x28. */
export const CLASSES: ReadonlyArray<{ folder: string; label: number; title: string }> = [
  { folder: 'tshirt', label: 0, title: 'T-shirt/top' },
  { folder: 'trouser', label: 1, title: 'Trouser' },
  { folder: 'sneaker', label: 7, title: 'Sneaker' },
  { folder: 'bag', label: 8, title: 'Bag' },
];

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  pixels: Uint8Array;
}

function readGz(path: string): Buffer {
  return gunzipSync(readFileSync(path));
}

/** IDX3 (magic 0x00000803): big-endian count, rows, cols, then uint8 pixels. */
export function readIdxImages(path: string): IdxImages {
  const b = readGz(path);
  const magic = b.readUInt32BE(0);
  if (magic !== 0x803) throw new Error(`${path}: expected IDX3 magic 0x00000803, found 0x${magic.toString(16)}`);
  const count = b.readUInt32BE(4);
  const rows = b.readUInt32BE(8);
  const cols = b.readUInt32BE(12);
  const pixels = new Uint8Array(b.buffer, b.byteOffset + 16, count * rows * cols);
  return { count, rows, cols, pixels };
}

/** IDX1 (magic 0x00000801): big-endian count, then uint8 labels. */
export function readIdxLabels(path: string): Uint8Array {
  const b = readGz(path);
  const magic = b.readUInt32BE(0);
  if (magic !== 0x801) throw new Error(`${path}: expected IDX1 magic 0x00000801, found 0x${magic.toString(16)}`);
  const count = b.readUInt32BE(4);
  return new Uint8Array(b.buffer, b.byteOffset + 8, count);
}

export interface EmbeddedImage {
  split: 'train' | 'val';
  folder: string;
  /** File name: `<source file>-<index in it>.png`, e.g. train-00017.png. */
  file: string;
  pixels: Uint8Array;
}

/** The images the embedded dataset holds, in a fixed order, from the Debian IDX files. */
export function selectEmbeddedImages(source = DEBIAN_SOURCE): EmbeddedImage[] {
  const out: EmbeddedImage[] = [];
  const splits = [
    { split: 'train' as const, prefix: 'train', per: TRAIN_PER_CLASS },
    { split: 'val' as const, prefix: 't10k', per: VAL_PER_CLASS },
  ];
  for (const { split, prefix, per } of splits) {
    const images = readIdxImages(join(source, `${prefix}-images-idx3-ubyte.gz`));
    const labels = readIdxLabels(join(source, `${prefix}-labels-idx1-ubyte.gz`));
    if (images.rows !== IMAGE_SIZE || images.cols !== IMAGE_SIZE || labels.length !== images.count) {
      throw new Error(`${source}/${prefix}: unexpected IDX shape ${images.count}x${images.rows}x${images.cols}, ${labels.length} labels`);
    }
    const px = IMAGE_SIZE * IMAGE_SIZE;
    for (const cls of CLASSES) {
      let taken = 0;
      for (let i = 0; i < labels.length && taken < per; i++) {
        if (labels[i] !== cls.label) continue;
        out.push({
          split,
          folder: cls.folder,
          file: `${prefix}-${String(i).padStart(5, '0')}.png`,
          pixels: images.pixels.slice(i * px, (i + 1) * px),
        });
        taken++;
      }
      if (taken < per) throw new Error(`${prefix}: only ${taken} images of class ${cls.title}, need ${per}`);
    }
  }
  return out;
}

const README = `# fashion-mnist-mini

A small real labelled image dataset that headstart ships as its default demo data:
${CLASSES.length} Fashion-MNIST classes, ${TRAIN_PER_CLASS} training and ${VAL_PER_CLASS} validation images per class,
28x28 grayscale PNGs in \`train/<class>/\` and \`val/<class>/\`.

| folder | Fashion-MNIST class (label) |
|---|---|
${CLASSES.map((c) => `| \`${c.folder}\` | ${c.title} (${c.label}) |`).join('\n')}

Selection (deterministic): for each class, the first ${TRAIN_PER_CLASS} images of that class in
\`train-images-idx3-ubyte\` go to \`train/\`, the first ${VAL_PER_CLASS} in \`t10k-images-idx3-ubyte\` go
to \`val/\`. A file's name is its source file and index, e.g. \`train-00017.png\` is image 17 of the
training file. Regenerate with:

    node --import tsx scripts/make_embedded_dataset.ts

(reads Debian's \`dataset-fashion-mnist\` package, \`${DEBIAN_SOURCE}/*.gz\`).

Source: Fashion-MNIST by Zalando Research, https://github.com/zalandoresearch/fashion-mnist
Licence: MIT (see LICENSE in this folder).
Xiao, Rasul and Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine
Learning Algorithms", arXiv:1708.07747, 2017.
`;

const LICENSE = `The images in this folder are a subset of Fashion-MNIST
(https://github.com/zalandoresearch/fashion-mnist), re-encoded as PNG.

The MIT License (MIT)

Copyright (c) 2017 Zalando SE, https://tech.zalando.com

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

/** Writes the dataset to `out` (replacing train/ and val/ there); returns the number of images. */
export async function makeEmbeddedDataset(out = DEFAULT_OUT, source = DEBIAN_SOURCE): Promise<number> {
  const images = selectEmbeddedImages(source);
  rmSync(join(out, 'train'), { recursive: true, force: true });
  rmSync(join(out, 'val'), { recursive: true, force: true });
  for (const img of images) {
    const dir = join(out, img.split, img.folder);
    mkdirSync(dir, { recursive: true });
    await sharp(Buffer.from(img.pixels), { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 1 } })
      .toColourspace('b-w')
      .png({ compressionLevel: 9, palette: false })
      .toFile(join(dir, img.file));
  }
  writeFileSync(join(out, 'README.md'), README);
  writeFileSync(join(out, 'LICENSE'), LICENSE);
  return images.length;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: { source: { type: 'string', default: DEBIAN_SOURCE }, out: { type: 'string', default: DEFAULT_OUT } },
    strict: true,
  });
  const n = await makeEmbeddedDataset(resolve(values.out), values.source);
  console.log(`wrote ${n} images to ${resolve(values.out)}`);
}
