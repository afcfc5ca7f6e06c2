/**
 * The native JPEG decoder (native/headstart_image.cc through src/data/native-image.ts): its
 * decode equals PIL's bit for bit (whole images and the parts a crop reads: libjpeg-turbo with
 * Pillow's settings, the same library underneath), greyscale and CMYK (converted as Pillow converts
 * them; sharp's ICC-based conversion differs from PIL's by up to ~130 levels) included; a corrupt or truncated JPEG is a DataError E_BAD_IMAGE naming
 * the file, never a crash; the loader gives the same batches on the main thread (libuv workers)
 * and in decode worker threads, equal to the sharp path's for the exact eval transform. The eval
 * and training transforms against torchvision on this path: data-eval-parity.test.ts and
 * data-fast-augment.test.ts run on both decoders. Skipped with the reason when the addon is not
 * built (npm run build:native).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { createLoader, type Batch } from '../src/data/loader.js';
import { loadNativeImage, nativeDecode, type NativeDecodeRequest } from '../src/data/native-image.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import type { Sample } from '../src/data/sample.js';
import { DataError } from '../src/errors.js';
import { Random } from '../src/random.js';
import { tempDir, texture, torchvisionMissing, torchvisionReference, withNativeDecode } from './data-fixtures.js';

const native = loadNativeImage();
const notBuilt: string | false = 'addon' in native ? false : native.reason;
const addon = 'addon' in native ? native.addon : undefined;

const PHOTO_DIRS = ['/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets', '/usr/share/doc/rust-doc/html/embedded-book/assets'];
const PHOTOS = PHOTO_DIRS.flatMap((d) => ['f3.jpg', 'verify.jpeg'].map((f) => join(d, f)))
  .filter((p) => existsSync(p))
  .slice(0, 2);

/** The part `box` of a whole-size 8-bit HWC image. */
function cut(data: Uint8Array, width: number, box: { left: number; top: number; width: number; height: number }): Uint8Array {
  const out = new Uint8Array(box.width * box.height * 3);
  for (let y = 0; y < box.height; y++) out.set(data.subarray(((box.top + y) * width + box.left) * 3, ((box.top + y) * width + box.left + box.width) * 3), y * box.width * 3);
  return out;
}

function region(width: number, height: number, box: { left: number; top: number; width: number; height: number }): NativeDecodeRequest {
  return {
    scale: 1,
    decoded: { width, height },
    box: { x0: box.left, y0: box.top, x1: box.left + box.width, y1: box.top + box.height },
    size: { width: box.width, height: box.height },
    window: { left: 0, top: 0, width: box.width, height: box.height },
    interpolation: 'bilinear',
  };
}

function firstDiff(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return a.length === b.length ? 'equal' : `length ${a.length} vs ${b.length}`;
}

test('native decode equals PIL decode bit for bit: whole images and the regions a crop reads', { skip: notBuilt || torchvisionMissing }, async () => {
  const dir = tempDir('native-decode');
  const made: { path: string; width: number; height: number }[] = [];
  const specs: [number, number, '4:2:0' | '4:4:4', boolean, boolean][] = [
    [500, 375, '4:2:0', false, false],
    [333, 257, '4:2:0', false, true],
    [97, 61, '4:4:4', false, false],
    [641, 479, '4:2:0', true, false],
    [1001, 703, '4:2:0', false, true],
    [17, 9, '4:2:0', false, false],
    [2, 3, '4:4:4', false, false],
  ];
  for (const [i, [w, h, sub, grey, progressive]] of specs.entries()) {
    let img = sharp(texture(w, h, 40 + i), { raw: { width: w, height: h, channels: 3 } });
    if (grey) img = img.toColourspace('b-w'); // a one-channel JPEG (greyscale() alone writes three)
    const path = join(dir, `${i}-${w}x${h}${grey ? '-grey' : ''}${progressive ? '-progressive' : ''}.jpg`);
    writeFileSync(path, await img.jpeg({ quality: 90, chromaSubsampling: sub, progressive }).toBuffer());
    made.push({ path, width: w, height: h });
  }
  // CMYK (Adobe, as sharp and Photoshop write it): Pillow's "CMYK;I" + cmyk2rgb.
  const cmyk = join(dir, 'cmyk.jpg');
  writeFileSync(
    cmyk,
    await sharp(texture(151, 97, 9), { raw: { width: 151, height: 97, channels: 3 } })
      .toColourspace('cmyk')
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
  made.push({ path: cmyk, width: 151, height: 97 });
  for (const path of PHOTOS) {
    const m = await sharp(path).metadata();
    made.push({ path, width: m.width, height: m.height });
  }
  const ref = torchvisionReference<{ mode: string; shape: number[] }>(
    'decode',
    made.map((m) => ({ path: m.path })),
  );
  const rng = new Random(5);
  const pick = (n: number) => Math.floor(rng.next() * n);
  let regions = 0;
  for (const [i, m] of made.entries()) {
    const bytes = readFileSync(m.path);
    const pil = new Uint8Array(ref.output(i));
    assert.deepEqual(ref.results[i].shape, [m.height, m.width, 3], `${m.path}: PIL's size`);
    const whole = new Uint8Array(m.width * m.height * 3);
    await nativeDecode(addon!, bytes, region(m.width, m.height, { left: 0, top: 0, width: m.width, height: m.height }), { out: whole, offset: 0 });
    assert.equal(firstDiff(whole, pil), 'equal', `${m.path} (PIL mode ${ref.results[i].mode}): whole decode`);
    // Regions: full-width bands (rows skipped), column spans from the top, and both (the 4:2:0 case
    // where a cropped decode's edge upsampling would differ: the decoder keeps a margin).
    for (let r = 0; r < 12; r++) {
      let left = pick(m.width);
      let top = pick(m.height);
      let width = 1 + pick(m.width - left);
      const height = 1 + pick(m.height - top);
      if (r < 4) [left, width] = [0, m.width];
      else if (r < 8) top = 0;
      const box = { left, top, width, height };
      const out = new Uint8Array(width * height * 3);
      await nativeDecode(addon!, bytes, region(m.width, m.height, box), { out, offset: 0 }, r % 2 === 0);
      assert.equal(firstDiff(out, cut(pil, m.width, box)), 'equal', `${m.path}: region ${JSON.stringify(box)}`);
      regions++;
    }
  }
  assert.ok(regions >= 80, `${regions} regions compared`);
  assert.deepEqual(
    ref.results.map((r) => r.mode).filter((m, k, all) => all.indexOf(m) === k),
    ['RGB', 'L', 'CMYK'],
    'PIL read RGB, greyscale and CMYK fixtures',
  );
});

test('native decoder: corrupt and truncated JPEGs give E_BAD_IMAGE naming the file', { skip: notBuilt }, async () => {
  const dir = tempDir('native-bad');
  const w = 120;
  const h = 90;
  const good = await sharp(texture(w, h, 3), { raw: { width: w, height: h, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const full = region(w, h, { left: 0, top: 0, width: w, height: h });
  const broken: [string, Buffer][] = [
    ['truncated.jpg', good.subarray(0, Math.floor(good.length / 2))],
    ['garbage-scan.jpg', Buffer.concat([good.subarray(0, good.length - 400), Buffer.alloc(300, 0xa5), good.subarray(good.length - 100)])],
    ['no-eoi.jpg', good.subarray(0, good.length - 2)],
  ];
  for (const [name, bytes] of broken) {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    // The addon itself: rejects (async) and throws (sync), with libjpeg's reason.
    await assert.rejects(nativeDecode(addon!, bytes, full, { out: new Uint8Array(w * h * 3), offset: 0 }), (e: Error & { code?: string }) => e.code === 'E_BAD_IMAGE' && e.message.length > 0);
    await assert.rejects(nativeDecode(addon!, bytes, full, { out: new Uint8Array(w * h * 3), offset: 0 }, true), (e: Error & { code?: string }) => e.code === 'E_BAD_IMAGE');
    // Through the pipeline (the whole image is read: Resize(w) keeps every row): a DataError naming the file.
    const pipe = buildEvalTransform({ ...IMAGENET_PREPROCESS, resizeSize: h, inputSize: h });
    await assert.rejects(
      withNativeDecode('1', () => pipe.tensor(bytes, new Random(0), path)),
      (e: unknown) => e instanceof DataError && e.code === 'E_BAD_IMAGE' && e.message.includes(path) && !!e.hint,
      name,
    );
  }
  // Truncated below the rows a crop reads (a tall image, its top band): still an error, as PIL
  // decodes the whole file.
  const tall = await sharp(texture(64, 400, 5), { raw: { width: 64, height: 400, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  const cutTall = tall.subarray(0, Math.floor(tall.length * 0.7));
  const top = region(64, 400, { left: 0, top: 0, width: 64, height: 40 });
  await nativeDecode(addon!, tall, top, { out: new Uint8Array(64 * 40 * 3), offset: 0 });
  await assert.rejects(nativeDecode(addon!, cutTall, top, { out: new Uint8Array(64 * 40 * 3), offset: 0 }), (e: Error & { code?: string }) => e.code === 'E_BAD_IMAGE');
  // Bad requests are errors, not writes past the buffer.
  assert.throws(() => addon!.decode(good, new Float64Array(3), new Uint8Array(10)), /Float64Array/);
  await assert.rejects(nativeDecode(addon!, good, full, { out: new Uint8Array(w * h * 3 - 1), offset: 0 }), /do not fit/);
  await assert.rejects(nativeDecode(addon!, good, region(w, h, { left: 100, top: 0, width: 40, height: 10 }), { out: new Uint8Array(40 * 10 * 3), offset: 0 }), /does not fit/);
  await assert.rejects(nativeDecode(addon!, good, { ...full, decoded: { width: w + 1, height: h } }, { out: new Uint8Array(w * h * 3), offset: 0 }), /expected 121x90/);
  // The loader skips a broken file and keeps the others.
  writeFileSync(join(dir, 'good.jpg'), good);
  const loader = createLoader(
    [
      { path: join(dir, 'good.jpg'), label: 0 },
      { path: join(dir, 'truncated.jpg'), label: 1 },
    ],
    buildEvalTransform({ ...IMAGENET_PREPROCESS, resizeSize: 64, inputSize: 56 }),
    { batchSize: 2, workers: 0 },
  );
  await withNativeDecode('1', async () => {
    for await (const b of loader) assert.equal(b.size, 1);
  });
  assert.equal(loader.skipped.length, 1);
  assert.match(loader.skipped[0].reason, /truncated/);
});

test('native decoder in the loader: main thread and worker threads give the same batches, equal to sharp for the eval transform', { skip: notBuilt }, async () => {
  const dir = tempDir('native-loader');
  const samples: Sample[] = [];
  for (let i = 0; i < 10; i++) {
    const w = 60 + 7 * i;
    const h = 50 + 5 * ((i * 3) % 7);
    const path = join(dir, `${i}.jpg`);
    writeFileSync(
      path,
      await sharp(texture(w, h, 60 + i), { raw: { width: w, height: h, channels: 3 } })
        .jpeg({ quality: 88, chromaSubsampling: i % 2 ? '4:4:4' : '4:2:0' })
        .toBuffer(),
    );
    samples.push({ path, label: i % 2 });
  }
  const spec = { ...IMAGENET_PREPROCESS, resizeSize: 48, inputSize: 40 };
  const collect = async (pipe: ReturnType<typeof buildEvalTransform>, workers: number, value: '0' | '1') =>
    withNativeDecode(value, async () => {
      const out: Float32Array[] = [];
      for await (const b of createLoader(samples, pipe, { batchSize: 4, shuffle: true, seed: 3, workers }) as AsyncIterable<Batch>) out.push(b.images.slice());
      return out;
    });
  const evalPipe = buildEvalTransform(spec);
  const mainThread = await collect(evalPipe, 0, '1');
  assert.deepEqual(await collect(evalPipe, 2, '1'), mainThread, 'worker threads = main thread (eval)');
  assert.deepEqual(await collect(evalPipe, 0, '0'), mainThread, 'native = sharp (eval, exact on both)');
  const trainPipe = buildTrainTransform(spec);
  assert.deepEqual(await collect(trainPipe, 2, '1'), await collect(trainPipe, 0, '1'), 'worker threads = main thread (train)');
});
