/**
 * bench:data-split — where the CPU of one image goes, stage by stage, on bench:data's JPEGs
 * (run `npm run bench:data` once first, or set BENCH_DIR). Each stage runs on the same files
 * one image at a time (no overlap, so process CPU time is the stage's own, libvips' threads
 * included); stages alternate round by round so machine noise hits all of them.
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
import { keyedRandom } from '../src/random.js';

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
  'JS: decodeGeometry train (default)': (i) =>
    decodeGeometry(bytes[i], { source: probes[i], crop: boxes[i], resize: { width: 224, height: 224 }, interpolation: 'bilinear', post: null, flip: false }, files[i]),
  'pipeline: train (default)': (i) => train.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  'pipeline: train (libvipsAugment)': (i) => trainLibvips.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  'pipeline: train (--exact-augment)': (i) => trainExact.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
  'pipeline: eval': (i) => evalT.run(bytes[i], keyedRandom(1, 0, i), out, 0, files[i]),
};

const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(stages).map((k) => [k, []]));
for (let r = 0; r <= rounds; r++) {
  for (const [name, f] of Object.entries(stages)) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < files.length; i++) await f(i);
    const c = process.cpuUsage(c0);
    if (r > 0) cpu[name].push((c.user + c.system) / 1000 / files.length); // round 0 warms up
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const upscaled = boxes.filter((b) => b.width < 224 || b.height < 224).length;
console.log(`${files.length} JPEGs from ${dir}; ${upscaled} of the train crops upscale (the JS resample rows average over all crops); CPU-ms per image (process CPU, medians of ${rounds} rounds):`);
for (const [name, xs] of Object.entries(cpu)) console.log(`  ${name.padEnd(40)} ${median(xs).toFixed(3)}`);
