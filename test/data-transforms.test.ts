/**
 * The transforms sample and compute exactly as torchvision 0.14 + PIL do: the same random
 * words (replayed into torchvision by scripts/data_reference.py) give the same crop boxes,
 * flips, jitter and bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { decodeImage } from '../src/data/decode.js';
import { Pipeline } from '../src/data/pipeline.js';
import { centerCrop } from '../src/data/transforms/center-crop.js';
import { randomHorizontalFlip } from '../src/data/transforms/horizontal-flip.js';
import { resize, resizedSize } from '../src/data/transforms/resize.js';
import { colorJitter } from '../src/data/transforms/color-jitter.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { Random } from '../src/random.js';
import { createRgbImage } from '../src/data/rgb-image.js';
import { centerCropBox } from '../src/data/transforms/center-crop.js';
import { adjustBrightness, adjustContrast, adjustHue, adjustSaturation } from '../src/data/transforms/color-jitter.js';
import { sampleResizedCropBox } from '../src/data/transforms/random-resized-crop.js';
import { roundHalfEven } from '../src/data/transforms/round-half-even.js';
import { float32s, meanAbsDiff, RecordingRandom, tempDir, torchvisionMissing, torchvisionReference, writeImage } from './data-fixtures.js';

const skip = torchvisionMissing;

test('roundHalfEven, resizedSize and centerCropBox follow Python/torchvision rules', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3]);
  assert.deepEqual(resizedSize({ width: 500, height: 375 }, 256), { width: 341, height: 256 });
  assert.deepEqual(resizedSize({ width: 375, height: 500 }, 256), { width: 256, height: 341 });
  assert.deepEqual(resizedSize({ width: 10, height: 20 }, [7, 9]), { width: 9, height: 7 });
  // (341 - 224) / 2 = 58.5 rounds to 58 (ties to even), not 59.
  assert.deepEqual(centerCropBox({ width: 341, height: 256 }, { width: 224, height: 224 }), { left: 58, top: 16, width: 224, height: 224 });
  // Smaller than the crop: padded, (crop - size) // 2 on the left.
  assert.deepEqual(centerCropBox({ width: 5, height: 300 }, { width: 8, height: 224 }), { left: -1, top: 38, width: 8, height: 224 });
});

test('RandomResizedCrop boxes equal torchvision get_params for the same random words (incl. the centre fallback)', { skip }, () => {
  const shapes: [number, number][] = [
    [500, 375],
    [375, 500],
    [224, 224],
    [1000, 12],
    [12, 1000],
    [33, 31],
    [1, 1],
    [640, 480],
    [7, 300],
  ];
  const options = [
    { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] },
    { scale: [0.5, 1], ratio: [1, 1] },
    { scale: [0.95, 1], ratio: [0.2, 0.25] },
    { scale: [0.3, 0.4], ratio: [2, 5] },
  ] as const;
  const cases: { width: number; height: number; scale: readonly number[]; ratio: readonly number[]; words: number[] }[] = [];
  const ours: (ReturnType<typeof sampleResizedCropBox> & { used: number })[] = [];
  let k = 0;
  for (const [width, height] of shapes) {
    for (const o of options) {
      for (let rep = 0; rep < 6; rep++) {
        const rng = new RecordingRandom(Random.derive(17, k++));
        ours.push({ ...sampleResizedCropBox({ width, height }, rng, o), used: rng.words.length });
        cases.push({ width, height, scale: o.scale, ratio: o.ratio, words: rng.words });
      }
    }
  }
  const { results } = torchvisionReference<{ top: number; left: number; width: number; height: number; used: number }>('crop', cases);
  let fallbacks = 0;
  results.forEach((r, i) => {
    assert.deepEqual(ours[i], r, `case ${i}: ${JSON.stringify(cases[i].width)}x${cases[i].height} ${JSON.stringify(options[Math.floor(i / 6) % 4])}`);
    if (r.used === 20) fallbacks++;
  });
  assert.ok(fallbacks > 10, `the cases exercise the centre fallback (${fallbacks} did)`);
});

test('train pipeline (RandomResizedCrop + flip + ColorJitter + Normalize) equals torchvision bit for bit on PNGs', { skip }, async () => {
  const dir = tempDir('train-parity');
  const jitter = { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 };
  const pipe = buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 64 }, { colorJitter: jitter });
  const sizes: [number, number][] = [
    [200, 150],
    [90, 120],
    [40, 30],
    [301, 77],
  ];
  const cases: ({ words: number[] } & Record<string, unknown>)[] = [];
  const ours: Float32Array[] = [];
  const fast: Float32Array[] = [];
  for (const [i, [w, h]] of sizes.entries()) {
    const path = join(dir, `${i}.png`);
    await writeImage(path, w, h, 100 + i, 'png');
    const image = await decodeImage(path);
    for (let rep = 0; rep < 4; rep++) {
      const rng = new RecordingRandom(Random.derive(5, i, rep));
      ours.push(pipe.tensorFromImage(image, rng));
      fast.push(await pipe.tensor(readFileSync(path), Random.derive(5, i, rep)));
      cases.push({
        path,
        words: rng.words,
        size: 64,
        scale: [0.08, 1],
        ratio: [3 / 4, 4 / 3],
        hflip: 0.5,
        jitter,
        mean: IMAGENET_PREPROCESS.mean,
        std: IMAGENET_PREPROCESS.std,
        interpolation: 'bilinear',
      });
    }
  }
  const ref = torchvisionReference<{ used: number }>('train', cases);
  ref.results.forEach((r, i) => {
    assert.equal(r.used, cases[i].words.length, `case ${i}: torchvision drew as many words`);
    const expected = float32s(ref.output(i));
    const d = meanAbsDiff(ours[i], expected);
    assert.ok(d.max <= 1e-6, `case ${i}: reference path max |diff| ${d.max}`);
    // The loader's path (libvips crop+resize when downscaling) stays close to it.
    const f = meanAbsDiff(fast[i], expected);
    // Downscaling there is libvips' kernel, not PIL's (~0.3/255 apart); jitter's contrast and
    // saturation gains amplify that on these noisy textures, hence 0.02 rather than eval's 0.01.
    assert.ok(f.mean <= 0.02, `case ${i}: fast path mean |diff| ${f.mean}`);
  });
});

test('ColorJitter operations equal PIL ImageEnhance / torchvision adjust_hue byte for byte', { skip }, async () => {
  const dir = tempDir('jitter');
  const path = join(dir, 'x.png');
  await writeImage(path, 96, 64, 3, 'png');
  const image = await decodeImage(path);
  const ops = { brightness: adjustBrightness, contrast: adjustContrast, saturation: adjustSaturation, hue: adjustHue };
  const cases: { path: string; op: keyof typeof ops; factor: number }[] = [];
  for (const f of [0, 0.6, 1, 1.37]) cases.push({ path, op: 'brightness', factor: f });
  for (const f of [0, 0.55, 1.8]) cases.push({ path, op: 'contrast', factor: f });
  for (const f of [0, 0.7, 1.6]) cases.push({ path, op: 'saturation', factor: f });
  for (const f of [-0.5, -0.1, -0.0017, 0.05, 0.23, 0.5]) cases.push({ path, op: 'hue', factor: f });
  const ref = torchvisionReference('adjust', cases);
  cases.forEach((c, i) => {
    const got = ops[c.op](image, c.factor).data;
    const want = ref.output(i);
    let diff = 0;
    for (let k = 0; k < got.length; k++) if (got[k] !== want[k]) diff++;
    assert.equal(diff, 0, `${c.op}(${c.factor}): ${diff} bytes differ`);
  });
});

test('the same seed gives the same augmentation; another seed another one', async () => {
  const pipe = buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 32 }, { colorJitter: { brightness: 0.3 } });
  const img = createRgbImage(80, 60);
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7919) % 251;
  const a = pipe.tensorFromImage(img, Random.derive(1, 2, 3));
  const b = pipe.tensorFromImage(img, Random.derive(1, 2, 3));
  const c = pipe.tensorFromImage(img, Random.derive(1, 2, 4));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a.length, 3 * 32 * 32);
  const evalPipe = buildEvalTransform(IMAGENET_PREPROCESS);
  assert.deepEqual(evalPipe.outputSize, { width: 224, height: 224 });
  assert.match(evalPipe.describe(), /Resize\(256, bilinear\) -> CenterCrop\(224\)/);
});

test('buildTrainTransform rejects unknown or invalid options', () => {
  assert.throws(() => buildTrainTransform(IMAGENET_PREPROCESS, { flip: 0.5 } as never), { code: 'E_BAD_OPTION', message: /flip/ });
  assert.throws(() => buildTrainTransform(IMAGENET_PREPROCESS, { scale: [1, 0.5] }), { code: 'E_BAD_OPTION', message: /scale/ });
  assert.throws(() => buildEvalTransform({ ...IMAGENET_PREPROCESS, std: [0, 1, 1] }), { code: 'E_BAD_OPTION', message: /std/ });
});

test('steps that cannot be fused into one decode run in JS afterwards, with the same result as the reference', async () => {
  const dir = tempDir('fallback');
  const path = join(dir, 'x.png');
  await writeImage(path, 20, 16, 9, 'png');
  // Upscaling only, so the fused part is PIL-exact too: Resize -> CenterCrop fuse; the flip, the
  // second Resize (a second resampling) and the crop after it run on the decoded image.
  const pipe = new Pipeline([resize(24), centerCrop(20), randomHorizontalFlip(1), resize([30, 26]), centerCrop(24), colorJitter({ saturation: 0.5 })], IMAGENET_PREPROCESS);
  assert.deepEqual(pipe.outputSize, { width: 24, height: 24 });
  const fast = await pipe.tensor(readFileSync(path), Random.derive(2, 2));
  const ref = pipe.tensorFromImage(await decodeImage(path), Random.derive(2, 2));
  assert.deepEqual(fast, ref);
  const spec = pipe.spec;
  assert.ok(spec);
  assert.deepEqual(Pipeline.fromSpec(JSON.parse(JSON.stringify(spec))).tensorFromImage(await decodeImage(path), Random.derive(2, 2)), ref, 'rebuilt from its spec');
});

test('the default path resamples upscaled crops straight into the batch buffer, equal to the reference bit for bit (flip and offset too)', async () => {
  const dir = tempDir('fused-upscale');
  const path = join(dir, 'small.png');
  await writeImage(path, 60, 45, 12, 'png');
  const image = await decodeImage(path);
  // Every crop of a 60x45 image is upscaled to 64x64: the JS resampler fused with Normalize.
  for (const interpolation of ['bilinear', 'bicubic'] as const) {
    for (const hflip of [0, 1]) {
      const pipe = buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 64, interpolation }, { hflip });
      const len = pipe.tensorLength;
      for (let rep = 0; rep < 3; rep++) {
        const ref = pipe.tensorFromImage(image, Random.derive(7, rep));
        const out = new Float32Array(3 * len).fill(7);
        await pipe.run(readFileSync(path), Random.derive(7, rep), out, len, path);
        assert.deepEqual(out.subarray(len, 2 * len), ref, `${interpolation}, hflip ${hflip}, rep ${rep}`);
        assert.ok(out.subarray(0, len).every((v) => v === 7) && out.subarray(2 * len).every((v) => v === 7), 'nothing written outside the slot');
      }
    }
  }
  // Resize + CenterCrop upscaling (a window of the resized image) takes the fused path too.
  const evalPipe = buildEvalTransform({ ...IMAGENET_PREPROCESS, resizeSize: 80, inputSize: 64 });
  assert.deepEqual(await evalPipe.tensor(readFileSync(path), new Random(0)), evalPipe.tensorFromImage(image, new Random(0)));
});
