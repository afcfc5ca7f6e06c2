/**
 * Fixtures for the data tests, made with sharp in a temp folder: textured images in several
 * formats and sizes, a dataset in torchvision's layout with every kind of broken file the
 * loader and the doctor must handle, and a runner for scripts/data_reference.py.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import type { RandomSource } from '../src/random.js';
import { Random } from '../src/random.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `headstart-${prefix}-`));
}

/** Smooth colour waves plus noise: photo-like enough to make resampling differences show. */
export function texture(width: number, height: number, seed: number): Buffer {
  const rng = new Random(seed);
  const u = () => rng.nextUint32() / 4294967296;
  const waves = Array.from({ length: 5 }, () => ({ fx: u() * 0.15, fy: u() * 0.15, ph: u() * 6.28, c: [u(), u(), u()] }));
  // sin(a + b) = sin a cos b + cos a sin b, with a from x and b from y: tables instead of sin per pixel.
  const tab = waves.map((w) => ({
    sx: Float64Array.from({ length: width }, (_, x) => Math.sin(w.fx * x + w.ph)),
    cx: Float64Array.from({ length: width }, (_, x) => Math.cos(w.fx * x + w.ph)),
    sy: Float64Array.from({ length: height }, (_, y) => Math.sin(w.fy * y)),
    cy: Float64Array.from({ length: height }, (_, y) => Math.cos(w.fy * y)),
    c: w.c,
  }));
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (const w of tab) v += w.c[c] * (w.sx[x] * w.cy[y] + w.cx[x] * w.sy[y]);
        px[(y * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(128 + 45 * v + (u() - 0.5) * 40)));
      }
    }
  }
  return px;
}

export type FixtureFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff';

export async function writeImage(path: string, width: number, height: number, seed: number, format: FixtureFormat = 'png'): Promise<Buffer> {
  mkdirSync(dirname(path), { recursive: true });
  const img = sharp(texture(width, height, seed), { raw: { width, height, channels: 3 } });
  const bytes = await (
    format === 'jpeg' ? img.jpeg({ quality: 92 }) : format === 'webp' ? img.webp({ quality: 90 }) : format === 'gif' ? img.gif() : format === 'tiff' ? img.tiff() : img.png()
  ).toBuffer();
  writeFileSync(path, bytes);
  return bytes;
}

/** Records the words a RandomSource hands out, so Python can replay them. */
export class RecordingRandom implements RandomSource {
  readonly words: number[] = [];
  constructor(private readonly inner: RandomSource) {}
  nextUint32(): number {
    const w = this.inner.nextUint32();
    this.words.push(w);
    return w;
  }
}

const probe = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision, PIL, numpy'], { encoding: 'utf8' });
/** Skip reason for tests that need Debian's torchvision, or false. */
export const torchvisionMissing: string | false = probe.status === 0 ? false : 'needs Debian python3-torchvision at /usr/bin/python3 (apt-get install python3-torchvision)';

/** Runs scripts/data_reference.py; returns its JSON results and a reader for the per-case outputs. */
export function torchvisionReference<R>(mode: 'crop' | 'train' | 'eval' | 'adjust' | 'augop' | 'autoaug' | 'space' | 'decode', cases: unknown[]): { results: R[]; output: (i: number) => Buffer } {
  const dir = tempDir(`ref-${mode}`);
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
  const r = spawnSync('/usr/bin/python3', ['scripts/data_reference.py', mode, join(dir, 'cases.json'), dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`data_reference.py ${mode} failed (${r.status}): ${r.stderr}`);
  return { results: JSON.parse(r.stdout) as R[], output: (i: number) => readFileSync(join(dir, `${i}.bin`)) };
}

export function float32s(buf: Buffer): Float32Array {
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; max: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let s = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    s += d;
    if (d > m) m = d;
  }
  return { mean: s / a.length, max: m };
}

/** Relative paths of the special files in the fixture dataset. */
export const SPECIAL = {
  truncated: 'train/cat/truncated.jpg',
  zeroByte: 'train/cat/empty.jpg',
  text: 'train/dog/readme-not-an-image.jpg',
  pngAsJpg: 'train/dog/really-a-png.jpg',
  cmyk: 'train/bird/cmyk.jpg',
  exif: 'train/bird/rotated-exif6.jpg',
  tiny: 'train/cat/one-pixel.png',
  png16: 'train/dog/sixteen-bit.png',
  rgba: 'train/bird/transparent.png',
  dupTrain: 'train/cat/dup-original.jpg',
  dupVal: 'val/cat/dup-copy.jpg',
  unicode: 'train/dog/chat noir été 🐈.jpg',
  large: 'train/bird/huge.jpg',
  hidden: 'train/cat/.DS_Store',
  nonImage: 'train/dog/notes.txt',
} as const;

/** Files that cannot be decoded: the loader skips them, the doctor names them. */
export const BROKEN = [SPECIAL.truncated, SPECIAL.zeroByte, SPECIAL.text] as const;

/**
 * root/train/{bird,cat,dog}, root/val/{bird,cat,dog}, root/test (loose files), with good
 * images in five formats and every special file above. Returns the root.
 */
export async function buildFixtureDataset(root = tempDir('dataset'), options: { largeSide?: [number, number] } = {}): Promise<string> {
  const formats: FixtureFormat[] = ['jpeg', 'png', 'webp', 'gif', 'tiff'];
  const classes = ['bird', 'cat', 'dog'];
  let seed = 1;
  for (const [ci, c] of classes.entries()) {
    for (let i = 0; i < 6; i++) {
      const f = formats[(i + ci) % formats.length];
      const ext = f === 'jpeg' ? 'jpg' : f;
      await writeImage(join(root, 'train', c, `${c}-${i}.${ext}`), 48 + 8 * i, 40 + 6 * ((i + ci) % 4), seed++, f);
    }
    for (let i = 0; i < 3; i++) await writeImage(join(root, 'val', c, `${c}-val-${i}.jpg`), 50 + 4 * i, 44, seed++, 'jpeg');
  }
  for (let i = 0; i < 3; i++) await writeImage(join(root, 'test', `${i + 1}.jpg`), 56, 48, seed++, 'jpeg');

  const p = (rel: string) => join(root, rel);
  const jpeg = await writeImage(join(tempDir('scratch'), 'x.jpg'), 64, 48, 999, 'jpeg');
  writeFileSync(p(SPECIAL.truncated), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  writeFileSync(p(SPECIAL.zeroByte), Buffer.alloc(0));
  writeFileSync(p(SPECIAL.text), 'This is a text file with an image name.\n');
  writeFileSync(
    p(SPECIAL.pngAsJpg),
    await sharp(texture(52, 40, 7), { raw: { width: 52, height: 40, channels: 3 } })
      .png()
      .toBuffer(),
  );
  writeFileSync(
    p(SPECIAL.cmyk),
    await sharp(texture(60, 44, 8), { raw: { width: 60, height: 44, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg()
      .toBuffer(),
  );
  writeFileSync(
    p(SPECIAL.exif),
    await sharp(texture(64, 40, 9), { raw: { width: 64, height: 40, channels: 3 } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer(),
  );
  writeFileSync(
    p(SPECIAL.tiny),
    await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 30, b: 60 } } })
      .png()
      .toBuffer(),
  );
  writeFileSync(
    p(SPECIAL.png16),
    await sharp(texture(50, 42, 10), { raw: { width: 50, height: 42, channels: 3 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer(),
  );
  const rgba = Buffer.alloc(48 * 40 * 4);
  for (let i = 0; i < 48 * 40; i++) rgba.set([20, 120, 220, i % 48 < 24 ? 0 : 255], i * 4);
  writeFileSync(
    p(SPECIAL.rgba),
    await sharp(rgba, { raw: { width: 48, height: 40, channels: 4 } })
      .png()
      .toBuffer(),
  );
  const dup = await writeImage(p(SPECIAL.dupTrain), 58, 46, 11, 'jpeg');
  writeFileSync(p(SPECIAL.dupVal), dup);
  await writeImage(p(SPECIAL.unicode), 54, 42, 12, 'jpeg');
  const [lw, lh] = options.largeSide ?? [5000, 4000];
  writeFileSync(
    p(SPECIAL.large),
    await sharp({ create: { width: lw, height: lh, channels: 3, background: { r: 90, g: 140, b: 60 } } })
      .jpeg({ quality: 50 })
      .toBuffer(),
  );
  writeFileSync(p(SPECIAL.hidden), 'mac metadata');
  writeFileSync(p(SPECIAL.nonImage), 'labels were checked by hand');
  return root;
}

/** Runs `body` with HEADSTART_NATIVE_DECODE set to `value` ('0': the sharp path; pipelines read it per image). */
export async function withNativeDecode<T>(value: '0' | '1', body: () => Promise<T>): Promise<T> {
  const before = process.env.HEADSTART_NATIVE_DECODE;
  process.env.HEADSTART_NATIVE_DECODE = value;
  try {
    return await body();
  } finally {
    if (before === undefined) delete process.env.HEADSTART_NATIVE_DECODE;
    else process.env.HEADSTART_NATIVE_DECODE = before;
  }
}
