/**
 * The fast training transform (libvips crop + resize, JPEG shrink-on-load; decode-augmented.ts)
 * against torchvision 0.14 / PIL on the same crop boxes and flips (the same random words,
 * replayed by scripts/data_reference.py). Differences are measured on [0, 1] (mean 0, std 1)
 * as the mean absolute difference per value of each 224x224 crop. Stated tolerances:
 * - libvips reduce / affine (every crop not eligible for shrink-on-load): <= 0.01 per crop
 *   on photos, textures and sharp-edged synthetic images, <= 0.002 averaged over all crops;
 * - shrink-on-load (crops of 1344+ pixels): <= 0.01 per crop on photos and textures,
 *   <= 0.03 on sharp-edged images (8-pixel checkerboards shrunk 6x and more, near Nyquist).
 * `exactAugment` stays bit for bit torchvision's (JPEG decoding matches PIL's). The default
 * training path takes the same shrink-on-load for those large crops and is within 0.01 elsewhere.
 * On the native JPEG decoder (native-image.ts, where built) the default path is torchvision's bytes
 * exactly on JPEGs, except shrink-on-load (libjpeg's scaled decode + PIL's resampler), which keeps
 * the same stated tolerances (0.01, 0.03 on sharp edges).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { buildTrainTransform } from '../src/data/build-transforms.js';
import { jpegShrinkOnLoad } from '../src/data/decode-augmented.js';
import { probeImage } from '../src/data/decode.js';
import { loadNativeImage } from '../src/data/native-image.js';
import { IMAGENET_PREPROCESS, type Interpolation } from '../src/data/preprocess.js';
import { sampleResizedCropBox } from '../src/data/transforms/random-resized-crop.js';
import { Random } from '../src/random.js';
import { float32s, meanAbsDiff, RecordingRandom, tempDir, texture, torchvisionMissing, torchvisionReference, withNativeDecode } from './data-fixtures.js';

/** Real photos that Debian/rustup documentation ships (not in the repo); skipped where absent. */
const PHOTO_DIRS = ['/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets', '/usr/share/doc/rust-doc/html/embedded-book/assets'];
const PHOTOS = PHOTO_DIRS.flatMap((d) => ['f3.jpg', 'verify.jpeg'].map((f) => join(d, f)))
  .filter((p) => existsSync(p))
  .slice(0, 2);

/** Checkerboard of 8-pixel cells with thin coloured stripes: every edge is a hard one. */
function edges(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = ((x >> 3) + (y >> 3)) & 1 ? 230 : 20;
      const p = (y * w + x) * 3;
      b[p] = v;
      b[p + 1] = x % 17 < 3 ? 255 : v;
      b[p + 2] = y % 11 < 2 ? 0 : 255 - v;
    }
  }
  return b;
}

const nativeBuilt = 'addon' in loadNativeImage();

const raw = (buf: Buffer, width: number, height: number) => sharp(buf, { raw: { width, height, channels: 3 } });

interface Source {
  path: string;
  kind: 'photo' | 'texture' | 'edges';
  large: boolean;
}

async function sources(dir: string): Promise<Source[]> {
  const out: Source[] = PHOTOS.map((path) => ({ path, kind: 'photo' as const, large: false }));
  const put = async (name: string, kind: Source['kind'], large: boolean, s: Sharp) => {
    const path = join(dir, name);
    writeFileSync(path, await s.toBuffer());
    out.push({ path, kind, large });
  };
  await put('texture.jpg', 'texture', false, raw(texture(500, 375, 7), 500, 375).jpeg({ quality: 92 }));
  await put('edges.png', 'edges', false, raw(edges(500, 375), 500, 375).png());
  await put('edges.jpg', 'edges', false, raw(edges(375, 500), 375, 500).jpeg({ quality: 95 }));
  // Large JPEGs for shrink-on-load: a photo (or the texture) enlarged 4x, and hard edges.
  const base = PHOTOS[0] ? sharp(PHOTOS[0]) : raw(texture(720, 480, 8), 720, 480);
  await put('large-photo.jpg', PHOTOS[0] ? 'photo' : 'texture', true, base.resize(2880, 1920, { kernel: 'cubic' }).jpeg({ quality: 92 }));
  await put('large-edges.jpg', 'edges', true, raw(edges(2400, 1800), 2400, 1800).jpeg({ quality: 95 }));
  return out;
}

test('fast training transform is within its stated tolerance of torchvision on the same crop boxes; --exact-augment is exact', { skip: torchvisionMissing }, async () => {
  const dir = tempDir('fast-augment');
  const list = await sources(dir);
  const unit = { mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
  const cases: Record<string, unknown>[] = [];
  const fast: Float32Array[] = [];
  const exact: Float32Array[] = [];
  const plain: Float32Array[] = [];
  // The default path on the native JPEG decoder (where it is built): PIL's decode and resampler,
  // exact on JPEGs but for shrink-on-load (libjpeg's scaled decode), which keeps the tolerances above.
  const viaNative: Float32Array[] = [];
  const meta: { src: Source; interpolation: Interpolation; shrinkOnLoad: boolean; box: string }[] = [];
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    const spec = { ...IMAGENET_PREPROCESS, ...unit, interpolation };
    for (const src of list) {
      // Large images: crops big enough for shrink-on-load (scale 0.5-1); small: the full range.
      const scale: [number, number] = src.large ? [0.5, 1] : [0.08, 1];
      const fastPipe = buildTrainTransform(spec, { scale, libvipsAugment: true });
      const exactPipe = buildTrainTransform(spec, { scale, exactAugment: true });
      const defaultPipe = buildTrainTransform(spec, { scale });
      const bytes = readFileSync(src.path);
      const size = await probeImage(bytes);
      const reps = src.large ? 3 : 5;
      for (let rep = 0; rep < reps; rep++) {
        const rng = new RecordingRandom(Random.derive(11, cases.length));
        fast.push(await fastPipe.tensor(bytes, rng));
        exact.push(await exactPipe.tensor(bytes, Random.derive(11, cases.length)));
        plain.push(await withNativeDecode('0', () => defaultPipe.tensor(bytes, Random.derive(11, cases.length))));
        if (nativeBuilt) viaNative.push(await defaultPipe.tensor(bytes, Random.derive(11, cases.length)));
        let i = 0;
        const box = sampleResizedCropBox(size, { nextUint32: () => rng.words[i++] }, { scale, ratio: [3 / 4, 4 / 3] });
        const shrink = Math.min(box.width, box.height) / 224;
        meta.push({ src, interpolation, shrinkOnLoad: jpegShrinkOnLoad(shrink / 2) > 1, box: `${box.width}x${box.height}` });
        cases.push({ path: src.path, words: rng.words, size: 224, scale, ratio: [3 / 4, 4 / 3], hflip: 0.5, jitter: null, ...unit, interpolation });
      }
    }
  }
  const ref = torchvisionReference<{ used: number }>('train', cases);
  const report: string[] = [];
  let sumRegular = 0;
  let nRegular = 0;
  let nShrink = 0;
  let nNativeExact = 0;
  ref.results.forEach((r, i) => {
    const m = meta[i];
    const c = cases[i] as { words: number[] };
    assert.equal(r.used, c.words.length, `case ${i}: torchvision drew as many words`);
    const want = float32s(ref.output(i));
    assert.ok(meanAbsDiff(exact[i], want).max <= 1e-6, `case ${i} (${m.src.path}): the exact path differs from torchvision`);
    const d = meanAbsDiff(fast[i], want).mean;
    const name = m.src.path.split('/').pop();
    report.push(`${name} ${m.interpolation} ${m.box}${m.shrinkOnLoad ? ' shrink-on-load' : ''}: MAD ${d.toFixed(4)}`);
    const limit = m.shrinkOnLoad && m.src.kind === 'edges' ? 0.03 : 0.01;
    assert.ok(d <= limit, `${name} (${m.interpolation}, crop ${m.box}${m.shrinkOnLoad ? ', shrink-on-load' : ''}): mean |diff| ${d} > ${limit}`);
    // The default path: shrink-on-load as above where it applies (the same result), else libvips
    // downscaling (~0.001) or PIL's resampler in JS (upscaling: exact but for JPEG decoding).
    const p = meanAbsDiff(plain[i], want).mean;
    if (m.shrinkOnLoad) assert.deepEqual(plain[i], fast[i], `${name} (${m.interpolation}, crop ${m.box}): the default path takes the same shrink-on-load`);
    else assert.ok(p <= 0.01, `${name} (${m.interpolation}, crop ${m.box}): default path mean |diff| ${p} > 0.01`);
    if (nativeBuilt) {
      const n = meanAbsDiff(viaNative[i], want);
      if (m.shrinkOnLoad) report.push(`  native shrink-on-load: MAD ${n.mean.toFixed(4)}`);
      if (m.shrinkOnLoad) assert.ok(n.mean <= limit, `${name} (${m.interpolation}, crop ${m.box}): native shrink-on-load mean |diff| ${n.mean} > ${limit}`);
      else if (m.src.path.endsWith('.png')) assert.ok(n.mean <= 0.01, `${name} (${m.interpolation}, crop ${m.box}): default path (sharp, PNG) mean |diff| ${n.mean} > 0.01`);
      else assert.equal(n.max, 0, `${name} (${m.interpolation}, crop ${m.box}): the native path differs from torchvision`);
      if (!m.shrinkOnLoad && !m.src.path.endsWith('.png')) nNativeExact++;
    }
    if (m.shrinkOnLoad) nShrink++;
    else {
      sumRegular += d;
      nRegular++;
    }
  });
  console.log(report.join('\n'));
  assert.ok(nShrink >= 6, `shrink-on-load was exercised (${nShrink} crops)`);
  if (nativeBuilt) assert.ok(nNativeExact >= 20, `the native path was exact on ${nNativeExact} JPEG crops`);
  assert.ok(sumRegular / nRegular <= 0.002, `mean over the regular crops ${sumRegular / nRegular} > 0.002`);
  assert.ok(
    meta.some((m) => !m.shrinkOnLoad && m.box.split('x').some((v) => Number(v) < 224)),
    'some crops were upscaled (libvips affine path)',
  );
});

test('jpegShrinkOnLoad follows libvips/sharp: 1/2, 1/4, 1/8, one step lower below the next whole factor', () => {
  assert.deepEqual([1, 1.9, 2, 2.5, 3, 4, 4.5, 5, 8, 8.5, 9, 20].map(jpegShrinkOnLoad), [1, 1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8]);
});

test('the fast path writes the flip and the batch offset in the fused pass, and fromSpec keeps it', async () => {
  const dir = tempDir('fast-flip');
  const path = join(dir, 'x.png');
  writeFileSync(
    path,
    await raw(texture(90, 70, 3), 90, 70)
      .png()
      .toBuffer(),
  );
  const bytes = readFileSync(path);
  const spec = { ...IMAGENET_PREPROCESS, inputSize: 32 };
  const pipe = buildTrainTransform(spec, { hflip: 1, libvipsAugment: true });
  const noFlip = buildTrainTransform(spec, { hflip: 0, libvipsAugment: true });
  assert.equal(pipe.spec?.fastAugment, true);
  assert.match(pipe.describe(), /libvips/);
  const out = new Float32Array(2 * 3 * 32 * 32).fill(NaN);
  await pipe.run(bytes, Random.derive(1), out, 3 * 32 * 32);
  assert.ok(out.subarray(0, 3 * 32 * 32).every(Number.isNaN), 'the first slot is untouched');
  // hflip 1 draws one more word than hflip 0: replay the crop's words into the unflipped one.
  const rng = new RecordingRandom(Random.derive(1));
  await pipe.tensor(bytes, rng);
  let i = 0;
  const plain = await noFlip.tensor(bytes, { nextUint32: () => rng.words[i++] });
  const flipped = out.subarray(3 * 32 * 32);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) assert.equal(flipped[c * 1024 + y * 32 + x], plain[c * 1024 + y * 32 + 31 - x]);
    }
  }
  const rebuilt = (await import('../src/data/pipeline.js')).Pipeline.fromSpec(JSON.parse(JSON.stringify(pipe.spec)));
  assert.deepEqual(await rebuilt.tensor(bytes, Random.derive(1)), flipped);
});
