/**
 * PIL's resampler on a part of the source (what the eval transform decodes): for random sizes,
 * windows and both interpolations, resampling only the box `resampleInputBox` names gives the
 * bytes of resampling the whole image, and its fused normalised output equals normalising them
 * (as does resampleNormalized's on the whole image).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeadstartError } from '../src/errors.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { createRgbImage, type RgbImage } from '../src/data/rgb-image.js';
import type { Box } from '../src/data/transforms/geometry.js';
import { normalizationTable, writeNormalized } from '../src/data/transforms/normalize.js';
import { resample, resampleInputBox, resampleNormalized, resampleRegionNormalized } from '../src/data/transforms/resample.js';
import { Random, randomInt } from '../src/random.js';

function noise(width: number, height: number, rng: Random): RgbImage {
  const img = createRgbImage(width, height);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.nextUint32() & 255;
  return img;
}

function cut(img: RgbImage, b: Box): RgbImage {
  const out = createRgbImage(b.width, b.height);
  for (let y = 0; y < b.height; y++) out.data.set(img.data.subarray(((b.top + y) * img.width + b.left) * 3, ((b.top + y) * img.width + b.left + b.width) * 3), y * b.width * 3);
  return out;
}

test('resampling the part resampleInputBox names equals resampling the whole image', () => {
  const rng = new Random(42);
  const table = normalizationTable(IMAGENET_PREPROCESS.mean, IMAGENET_PREPROCESS.std);
  let partial = 0;
  for (let k = 0; k < 120; k++) {
    const source = { width: randomInt(rng, 5, 90), height: randomInt(rng, 5, 90) };
    // Both axes resampled; or one only (no horizontal pass, or no vertical pass).
    const size =
      k % 7 === 0
        ? { width: source.width, height: randomInt(rng, 3, 60) }
        : k % 11 === 0
          ? { width: randomInt(rng, 3, 60), height: source.height }
          : k % 5 === 2
            ? { width: Math.max(3, Math.round(source.width / 1.47)), height: Math.max(3, Math.round(source.height / 1.47)) } // the eval transform's ~1.5x: 3-4 taps bilinear, 5-6 bicubic
            : { width: randomInt(rng, 3, 60), height: randomInt(rng, 3, 60) };
    const width = randomInt(rng, 1, size.width + 1);
    const height = randomInt(rng, 1, size.height + 1);
    const window = { left: randomInt(rng, 0, size.width - width + 1), top: randomInt(rng, 0, size.height - height + 1), width, height };
    const interpolation = k % 2 ? 'bicubic' : 'bilinear';
    const img = noise(source.width, source.height, rng);
    const want = resample(img, size, interpolation, window);
    const need = resampleInputBox(source, size, interpolation, window);
    if (need.width < source.width || need.height < source.height) partial++;
    // The exact box, and a box one pixel larger where the image allows.
    const wider = { left: Math.max(0, need.left - 1), top: Math.max(0, need.top - 1), width: 0, height: 0 };
    wider.width = Math.min(source.width, need.left + need.width + 1) - wider.left;
    wider.height = Math.min(source.height, need.top + need.height + 1) - wider.top;
    for (const box of [need, wider]) {
      const bytes = resampleRegionNormalized(cut(img, box), box, source, size, interpolation, window);
      assert.deepEqual(bytes?.data, want.data, `case ${k}: ${JSON.stringify({ source, size, window, box, interpolation })}`);
      const out = new Float32Array(3 * width * height + 5);
      const ref = new Float32Array(out.length);
      const flip = k % 3 === 0;
      assert.equal(resampleRegionNormalized(cut(img, box), box, source, size, interpolation, window, { table, out, offset: 5, flip }), null);
      writeNormalized(want, table, ref, 5, flip);
      assert.deepEqual(out, ref, `case ${k}: the fused normalisation`);
    }
    // The whole-image fused path (the training transform's upscaled crops) agrees too.
    const whole = new Float32Array(3 * width * height + 3);
    const ref = new Float32Array(whole.length);
    resampleNormalized(img, size, interpolation, window, table, whole, 3, k % 4 === 1);
    writeNormalized(want, table, ref, 3, k % 4 === 1);
    assert.deepEqual(whole, ref, `case ${k}: resampleNormalized`);
  }
  assert.ok(partial > 60, `most cases read only part of the image (${partial})`);
});

test('a part that lacks pixels the resampler reads is refused (E_INTERNAL), not read out of bounds', () => {
  const source = { width: 60, height: 40 };
  const size = { width: 30, height: 20 };
  const window = { left: 5, top: 5, width: 20, height: 10 };
  const need = resampleInputBox(source, size, 'bilinear', window);
  const short = { ...need, width: need.width - 1 };
  assert.throws(
    () => resampleRegionNormalized(createRgbImage(short.width, short.height), short, source, size, 'bilinear', window),
    (e) => e instanceof HeadstartError && e.code === 'E_INTERNAL',
  );
});
