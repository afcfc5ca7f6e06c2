/**
 * The eval pipeline (Resize(256) + CenterCrop(224) + Normalize, decoded by sharp) equals
 * torchvision's PIL pipeline bit for bit: JPEGs and PNGs that need downscaling (by small and
 * large factors, including JPEGs over twice the resize target, where shrink-on-load could
 * trigger), upscaling or neither; real photos (progressive, 4:2:2) where the machine has them
 * and photo JPEGs made from them at 4:2:0 and 4:4:4, grey, and with an embedded Display P3
 * ICC profile (ignored, as PIL ignores it). libvips decodes a JPEG to the same bytes as PIL
 * (both libjpeg-turbo with its defaults); the resize is PIL's resampler in JS, on only the
 * source pixels the centre crop reads. Where the native JPEG decoder is built (native-image.ts:
 * libjpeg-turbo + PIL's resampler in C++) the JPEGs take it, and the sharp path
 * (HEADSTART_NATIVE_DECODE=0) is checked as well: both are exact.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { buildEvalTransform } from '../src/data/build-transforms.js';
import { decodeImage } from '../src/data/decode.js';
import { loadNativeImage } from '../src/data/native-image.js';
import { IMAGENET_PREPROCESS, type PreprocessSpec } from '../src/data/preprocess.js';
import { Random } from '../src/random.js';
import { float32s, meanAbsDiff, tempDir, texture, torchvisionMissing, torchvisionReference, withNativeDecode, writeImage, type FixtureFormat } from './data-fixtures.js';

/** Real photos that Debian/rustup documentation ships (not in the repo); skipped where absent. */
const PHOTO_DIRS = ['/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets', '/usr/share/doc/rust-doc/html/embedded-book/assets'];
const PHOTOS = PHOTO_DIRS.flatMap((d) => ['f3.jpg', 'verify.jpeg'].map((f) => join(d, f)))
  .filter((p) => existsSync(p))
  .slice(0, 2);

const nativeBuilt = 'addon' in loadNativeImage();

test('eval pipeline equals torchvision Resize(256)+CenterCrop(224)+Normalize bit for bit', { skip: torchvisionMissing }, async () => {
  const dir = tempDir('eval-parity');
  const images: [number, number, FixtureFormat][] = [
    [500, 375, 'jpeg'],
    [375, 500, 'jpeg'],
    [640, 480, 'jpeg'],
    [1024, 700, 'jpeg'],
    [1800, 1350, 'jpeg'],
    [120, 90, 'jpeg'],
    [256, 256, 'jpeg'],
    [224, 300, 'jpeg'],
    [300, 200, 'png'],
    [257, 255, 'png'],
    [97, 61, 'png'],
  ];
  const paths: string[] = [];
  for (const [i, [w, h, format]] of images.entries()) {
    const path = join(dir, `${i}.${format === 'jpeg' ? 'jpg' : format}`);
    await writeImage(path, w, h, 300 + i, format);
    paths.push(path);
  }
  // Photo content at sizes over twice the resize target, in both chroma subsamplings, and grey.
  const photo = PHOTOS.length ? sharp(PHOTOS[0]) : sharp(texture(720, 477, 7), { raw: { width: 720, height: 477, channels: 3 } });
  for (const [w, h, sub, q] of [
    [1600, 1060, '4:2:0', 90],
    [1200, 795, '4:4:4', 85],
  ] as const) {
    const path = join(dir, `photo-${w}x${h}-${sub.replaceAll(':', '')}.jpg`);
    writeFileSync(path, await photo.clone().resize(w, h, { fit: 'fill', kernel: 'lanczos3' }).jpeg({ quality: q, chromaSubsampling: sub }).toBuffer());
    paths.push(path);
  }
  const grey = join(dir, 'photo-grey.jpg');
  writeFileSync(grey, await photo.clone().resize(900, 600, { fit: 'fill' }).greyscale().jpeg({ quality: 88 }).toBuffer());
  // A Display P3 profile embedded, as phone photos carry: PIL ignores it, so must we.
  const p3 = join(dir, 'photo-p3.jpg');
  writeFileSync(p3, await photo.clone().resize(800, 530, { fit: 'fill' }).withIccProfile('p3').jpeg({ quality: 90 }).toBuffer());
  assert.ok((await sharp(p3).metadata()).hasProfile, 'the P3 fixture carries its ICC profile');
  paths.push(grey, p3, ...PHOTOS);

  const unit: PreprocessSpec = { ...IMAGENET_PREPROCESS, interpolation: 'bicubic', mean: [0, 0, 0], std: [1, 1, 1] };
  const specs: PreprocessSpec[] = [IMAGENET_PREPROCESS, unit];
  const cases = [];
  const ours: Float32Array[] = [];
  // The same on the sharp path when the native JPEG decoder (native-image.ts) is built and took `ours`.
  const viaSharp: Float32Array[] = [];
  const pure: (Float32Array | null)[] = [];
  for (const path of paths) {
    for (const spec of specs) {
      const pipe = buildEvalTransform(spec);
      ours.push(await pipe.tensor(readFileSync(path), new Random(0)));
      if (nativeBuilt) viaSharp.push(await withNativeDecode('0', () => pipe.tensor(readFileSync(path), new Random(0))));
      // The pure JS path (whole decode, PIL's resampler on the whole image) agrees too.
      pure.push(path.endsWith('.png') || path.includes('photo-') ? pipe.tensorFromImage(await decodeImage(path), new Random(0)) : null);
      cases.push({ path, resizeSize: spec.resizeSize, inputSize: spec.inputSize, mean: spec.mean, std: spec.std, interpolation: spec.interpolation });
    }
  }
  // The 8-bit images before ToTensor, for the spec without normalisation (x = byte / 255).
  const bytesCases = cases.filter((c) => c.mean === unit.mean).map((c) => ({ ...c, uint8: true }));
  const ref = torchvisionReference('eval', cases);
  const refBytes = torchvisionReference('eval', bytesCases);
  const report: string[] = [];
  cases.forEach((c, i) => {
    const want = float32s(ref.output(i));
    const d = meanAbsDiff(ours[i], want);
    report.push(`${c.path.split('/').pop()} ${c.interpolation}: max |diff| ${d.max}`);
    assert.equal(d.max, 0, `${c.path} (${c.interpolation}): max |diff| ${d.max} after normalisation (mean ${d.mean})`);
    const p = pure[i];
    if (p) assert.equal(meanAbsDiff(p, want).max, 0, `${c.path} (${c.interpolation}): the pure JS path differs`);
    if (nativeBuilt) assert.equal(meanAbsDiff(viaSharp[i], want).max, 0, `${c.path} (${c.interpolation}): the sharp path (HEADSTART_NATIVE_DECODE=0) differs`);
  });
  let k = 0;
  cases.forEach((c, i) => {
    if (c.mean !== unit.mean) return;
    const want = refBytes.output(k++); // HWC bytes
    const t = ours[i];
    const plane = c.inputSize * c.inputSize;
    let worst = 0;
    for (let p = 0; p < plane; p++) for (let ch = 0; ch < 3; ch++) worst = Math.max(worst, Math.abs(Math.round(t[ch * plane + p] * 255) - want[p * 3 + ch]));
    assert.equal(worst, 0, `${c.path}: the 8-bit image differs from PIL's by up to ${worst}`);
  });
  console.log(report.join('\n'));
});
