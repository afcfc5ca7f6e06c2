/**
 * bench:data-split — where the CPU of one image goes, stage by stage, on bench:data's JPEGs
 * (run `npm run bench:data` once first, or set BENCH_DIR). Each stage runs on the same files
 * one image at a time (no overlap, so process CPU time is the stage's own, libvips' threads
 * included); stages alternate round by round so machine noise hits all of them. The loader
 * rows run whole epochs (batch 32, images released as a trainer does) with and without
 * worker threads: loader minus pipeline is the batch assembly and messaging.
 * Then PIL's side, timed the same way (scripts/data_split_torch.py, Debian's torchvision, the
 * same files, crop boxes and flips, one process), is printed beside it.
 *
 * The pipeline and loader rows take the native JPEG decoder where it is built (the first line says);
 * the "(sharp)" rows force the sharp path (HEADSTART_NATIVE_DECODE=0).
 *
 *   npm run bench:data-split                     (200 images, 5 rounds)
 *   BENCH_IMAGES=50 BENCH_ROUNDS=2 npm run bench:data-split
 *   BENCH_DIR=/tmp/headstart-bench-data-3000x2250 BENCH_IMAGES=50 npm run bench:data-split   (after bench:data with BENCH_WIDTH=3000 BENCH_HEIGHT=2250)
 */
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { decodeGeometry, finishRgb, openImage, probeImage, readImageBytes } from '../src/data/decode.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { createRgbImage, type RgbImage } from '../src/data/rgb-image.js';
import { normalizationTable, writeNormalized } from '../src/data/transforms/normalize.js';
import { resample, resampleNormalized } from '../src/data/transforms/resample.js';
import { resizedSize } from '../src/data/transforms/resize.js';
import { centerCropBox } from '../src/data/transforms/center-crop.js';
import { sampleResizedCropBox } from '../src/data/transforms/random-resized-crop.js';
import { keyedRandom, nextFloat } from '../src/random.js';
import { spawnSync } from 'node:child_process';
import { createLoader } from '../src/data/loader.js';
import { Pipeline } from '../src/data/pipeline.js';
import { jpegDecoderName, loadNativeImage, nativeDecode } from '../src/data/native-image.js';

const count = Number(process.env.BENCH_IMAGES ?? 200);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const dir = process.env.BENCH_DIR ?? join(os.tmpdir(), 'headstart-bench-data-500x375');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .slice(0, count)
  .map((f) => join(dir, f));
const bytes = await Promise.all(files.map((f) => readImageBytes(f)));
const probes = await Promise.all(bytes.map((b, i) => probeImage(b, files[i])));
const boxes = probes.map((p, i) => sampleResizedCropBox(p, keyedRandom(1, 0, i)));
const crops: RgbImage[] = [];
for (let i = 0; i < files.length; i++) {
  const b = boxes[i];
  const { data, info } = await finishRgb(openImage(bytes[i]).extract(b), files[i]);
  crops.push(createRgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length)));
}
const train = buildTrainTransform(IMAGENET_PREPROCESS);
const trainLibvips = buildTrainTransform(IMAGENET_PREPROCESS, { libvipsAugment: true });
const trainExact = buildTrainTransform(IMAGENET_PREPROCESS, { exactAugment: true });
const evalT = buildEvalTransform(IMAGENET_PREPROCESS);
/** The eval transform as it was before it became exact: libvips' resize in the decode call. */
const evalLibvips = new Pipeline(evalT.steps, { mean: evalT.mean, std: evalT.std, libvipsDownscale: true });
const loaded = loadNativeImage();
const nativeImage = 'addon' in loaded ? loaded.addon : undefined;
console.log(`JPEG decoder of the pipeline rows: ${jpegDecoderName()}`);
/** `run` with HEADSTART_NATIVE_DECODE=0 (the sharp path). */
async function onSharp(run: () => Promise<void>): Promise<void> {
  const before = process.env.HEADSTART_NATIVE_DECODE;
  process.env.HEADSTART_NATIVE_DECODE = '0';
  try {
    await run();
  } finally {
    if (before === undefined) delete process.env.HEADSTART_NATIVE_DECODE;
    else process.env.HEADSTART_NATIVE_DECODE = before;
  }
}
const table = normalizationTable(IMAGENET_PREPROCESS.mean, IMAGENET_PREPROCESS.std);
const out = new Float32Array(3 * 224 * 224);
const out224 = createRgbImage(224, 224);

const stages: Record<string, (i: number) => unknown> = {
  'read file': (i) => readImageBytes(files[i]),
  'probe (JS header)': (i) => probeImage(bytes[i], files[i]),
  'sharp: decode whole image': (i) => finishRgb(openImage(bytes[i]), files[i]),
  'sharp: decode train crop': (i) => finishRgb(openImage(bytes[i]).extract(boxes[i]), files[i]),
  'sharp: decode eval resize + crop': (i) => {
    const r = resizedSize(probes[i], 256);
    const box = centerCropBox(r, { width: 224, height: 224 });
    return finishRgb(openImage(bytes[i]).resize(r.width, r.height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false }).extract(box), files[i]);
  },
  'JS: resample train crop to 224': (i) => resample(crops[i], { width: 224, height: 224 }, 'bilinear'),
  'JS: resample + normalise (fused)': (i) => resampleNormalized(crops[i], { width: 224, height: 224 }, 'bilinear', undefined, table, out, 0, true),
  'JS: normalise 224x224': () => writeNormalized(out224, table, out, 0, true),
  'decodeGeometry train, libvips downscale': (i) =>
    decodeGeometry(bytes[i], { source: probes[i], crop: boxes[i], resize: { width: 224, height: 224 }, interpolation: 'bilinear', post: null, flip: false }, files[i], undefined, {
      libvipsDownscale: true,
    }),
  'decodeGeometry train, PIL resampler': (i) =>
    decodeGeometry(bytes[i], { source: probes[i], crop: boxes[i], resize: { width: 224, height: 224 }, interpolation: 'bilinear', post: null, flip: false }, files[i]),
  'pipeline: train (default)': (i) => train.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  'pipeline: train (libvipsAugment)': (i) => trainLibvips.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  'pipeline: train (--exact-augment)': (i) => trainExact.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  'pipeline: eval (libvips resize, inexact)': (i) => onSharp(() => evalLibvips.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i])),
  'pipeline: eval': (i) => evalT.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  // The two rows above take the native JPEG decoder where it is built; these force sharp.
  'pipeline: train (default, sharp)': (i) => onSharp(() => train.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i])),
  'pipeline: eval (sharp)': (i) => onSharp(() => evalT.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i])),
  ...(nativeImage
    ? {
        'native: decode whole image': (i: number) => {
          const { width, height } = probes[i];
          const whole = { left: 0, top: 0, width, height };
          const request = { scale: 1 as const, decoded: { width, height }, box: { x0: 0, y0: 0, x1: width, y1: height }, size: { width, height }, window: whole, interpolation: 'bilinear' as const };
          return nativeDecode(nativeImage, bytes[i], request, { out: new Uint8Array(width * height * 3), offset: 0 }, true);
        },
      }
    : {}),
};
const samples = files.map((path) => ({ path, label: 0 }));
/** Whole-epoch rows: CPU-ms per image of a loader epoch (run once per round, not per image). */
const epochs: Record<string, () => Promise<void>> = {
  'loader: train, main thread (workers 0)': () => epochOf(train, 0),
  'loader: train, 2 worker threads': () => epochOf(train, 2),
  'loader: eval, main thread (workers 0)': () => epochOf(evalT, 0),
  'loader: eval, 2 worker threads': () => epochOf(evalT, 2),
};
let epochNo = 0;
async function epochOf(p: typeof train, workers: number): Promise<void> {
  for await (const b of createLoader(samples, p, { batchSize: 32, shuffle: true, seed: 1, epoch: epochNo++, workers })) b.release();
}

const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(stages).map((k) => [k, []]));
for (let r = 0; r <= rounds; r++) {
  for (const [name, f] of Object.entries(stages)) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < files.length; i++) await f(i);
    const c = process.cpuUsage(c0);
    if (r > 0) cpu[name].push((c.user + c.system) / 1000 / files.length); // round 0 warms up
  }
  for (const [name, f] of Object.entries(epochs)) {
    const c0 = process.cpuUsage();
    await f();
    const c = process.cpuUsage(c0);
    if (r > 0) (cpu[name] ??= []).push((c.user + c.system) / 1000 / files.length);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const upscaled = boxes.filter((b) => b.width < 224 || b.height < 224).length;
console.log(`${files.length} JPEGs from ${dir}; ${upscaled} of the train crops upscale (the JS resample rows average over all crops); CPU-ms per image (process CPU, medians of ${rounds} rounds):`);
for (const [name, xs] of Object.entries(cpu)) console.log(`  ${name.padEnd(40)} ${median(xs).toFixed(3)}`);

// PIL's side: the same files, boxes and flips, timed the same way in one Python process.
const flips = files.map((_, i) => {
  const rng = keyedRandom(1, 0, i);
  sampleResizedCropBox(probes[i], rng);
  return nextFloat(rng) < 0.5 ? 1 : 0;
});
const job = JSON.stringify({ files, boxes: boxes.map((b) => [b.top, b.left, b.height, b.width]), flips });
const py = spawnSync('/usr/bin/python3', ['scripts/data_split_torch.py', String(rounds)], { input: job, encoding: 'utf8', maxBuffer: 1 << 20 });
if (py.status !== 0) console.log(`PIL side not run: ${py.error?.message ?? py.stderr.trim().split('\n').pop()}`);
else {
  console.log(`PIL 9 / torchvision 0.14 (${files.length} images, one process, CPU-ms per image, medians of ${rounds} rounds):`);
  for (const [name, ms] of Object.entries(JSON.parse(py.stdout) as Record<string, number>)) console.log(`  ${name.padEnd(40)} ${ms.toFixed(3)}`);
}
