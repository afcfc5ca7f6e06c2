/**
 * createLoader over a fixture dataset with broken and unusual files: batch shapes and labels,
 * broken files skipped and reported once while the epoch goes on, determinism independent of
 * decode parallelism, the last-batch policy, and memory bounded by the prefetch window.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { scanImageFolder, type ImageFolder } from '../src/data/image-folder.js';
import { createLoader, type Batch, type SkippedFile } from '../src/data/loader.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { BROKEN, buildFixtureDataset, SPECIAL } from './data-fixtures.js';

const spec = { ...IMAGENET_PREPROCESS, inputSize: 32, resizeSize: 36 };
let root: string;
let ds: ImageFolder;

before(async () => {
  root = await buildFixtureDataset(undefined, { largeSide: [3000, 2400] });
  ds = await scanImageFolder(root);
});

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

test('batches are NCHW float32 with labels and paths; broken files are skipped once, the epoch goes on', async () => {
  const skips: SkippedFile[] = [];
  const loader = createLoader(ds.train, buildTrainTransform(spec), { batchSize: 8, shuffle: true, seed: 3, onSkip: (s) => skips.push(s) });
  assert.equal(loader.batchCount, Math.ceil(ds.train.length / 8));
  assert.deepEqual(loader.imageShape, [3, 32, 32]);
  const batches = await collect(loader);
  const paths = batches.flatMap((b) => b.paths);
  assert.equal(paths.length, ds.train.length - BROKEN.length, 'every decodable image once');
  assert.equal(new Set(paths).size, paths.length);
  for (const b of batches) {
    assert.equal(b.images.length, b.size * 3 * 32 * 32);
    assert.equal(b.labels.length, b.size);
    for (let i = 0; i < b.size; i++) assert.equal(b.labels[i], ds.train[b.indices[i]].label);
    assert.ok(b.images.every(Number.isFinite));
  }
  assert.deepEqual(skips.map((s) => s.path.slice(root.length + 1)).sort(), [...BROKEN].sort());
  assert.ok(
    skips.every(
      (s) =>
        s.error.code === 'E_BAD_IMAGE' &&
        s.reason.includes(
          s.path
            .slice(root.length + 1)
            .split('/')
            .pop()!,
        ),
    ),
  );
  // Every unusual-but-valid file made it into a batch.
  for (const rel of [SPECIAL.cmyk, SPECIAL.exif, SPECIAL.png16, SPECIAL.rgba, SPECIAL.tiny, SPECIAL.pngAsJpg, SPECIAL.unicode, SPECIAL.large, SPECIAL.dupTrain]) {
    assert.ok(paths.includes(join(root, rel)), `${rel} loaded`);
  }
  // Another epoch of the same loader: the broken files are not retried or reported again.
  const again = await collect(loader.epoch(1));
  assert.equal(again.flatMap((b) => b.paths).length, paths.length);
  assert.equal(skips.length, BROKEN.length);
  assert.equal(loader.skipped.length, BROKEN.length);
});

test('same seed and epoch give the same batches bit for bit, whatever the decode parallelism', async () => {
  const pipe = buildTrainTransform(spec, { colorJitter: { brightness: 0.3, hue: 0.05 } });
  const a = await collect(createLoader(ds.train, pipe, { batchSize: 5, shuffle: true, seed: 11, epoch: 2, concurrency: 1 }));
  const b = await collect(createLoader(ds.train, pipe, { batchSize: 5, shuffle: true, seed: 11, epoch: 2, concurrency: 8, prefetch: 4 }));
  const c = await collect(createLoader(ds.train, pipe, { batchSize: 5, shuffle: true, seed: 11, epoch: 3 }));
  assert.deepEqual(
    a.map((x) => x.paths),
    b.map((x) => x.paths),
  );
  a.forEach((x, i) => assert.deepEqual(x.images, b[i].images, `batch ${i} pixels`));
  assert.notDeepEqual(
    a.map((x) => x.paths),
    c.map((x) => x.paths),
    'another epoch, another order',
  );
});

test('decode worker threads give the same batches and report the same skipped files', async () => {
  const pipe = buildTrainTransform(spec, { colorJitter: { contrast: 0.2 } });
  const skipsIn: string[] = [];
  const skipsOut: string[] = [];
  const inProcess = await collect(createLoader(ds.train, pipe, { batchSize: 6, shuffle: true, seed: 5, workers: 0, onSkip: (s) => skipsIn.push(s.path) }));
  const threaded = await collect(createLoader(ds.train, pipe, { batchSize: 6, shuffle: true, seed: 5, workers: 2, onSkip: (s) => skipsOut.push(s.path) }));
  assert.deepEqual(
    threaded.map((b) => b.paths),
    inProcess.map((b) => b.paths),
  );
  threaded.forEach((b, i) => {
    assert.deepEqual(b.images, inProcess[i].images, `batch ${i}`);
    assert.ok(!(b.images.buffer instanceof SharedArrayBuffer), 'batches are ordinary buffers (ONNX Runtime refuses shared ones)');
  });
  assert.deepEqual(skipsOut.sort(), skipsIn.sort());
  assert.equal(skipsOut.length, BROKEN.length);
});

test('released buffers are reused; unreleased ones are not', async () => {
  const pipe = buildEvalTransform(spec);
  const loader = createLoader(ds.val, pipe, { batchSize: 2 });
  const seen: Float32Array[] = [];
  for await (const b of loader) {
    seen.push(b.images);
    b.release();
    b.release(); // twice is harmless
  }
  assert.ok(new Set(seen.map((x) => x.buffer)).size < seen.length, 'a released buffer came back');
  const kept: Batch[] = await collect(createLoader(ds.val, pipe, { batchSize: 2 }));
  assert.equal(new Set(kept.map((b) => b.images.buffer)).size, kept.length, 'without release every batch owns its buffer');
  assert.deepEqual(kept[0].images.slice(0, 10), (await collect(createLoader(ds.val, pipe, { batchSize: 2 })))[0].images.slice(0, 10));
});

test('eval loader: no shuffle keeps the sample order; dropLast drops the short batch', async () => {
  const pipe = buildEvalTransform(spec);
  const keep = await collect(createLoader(ds.val, pipe, { batchSize: 4 }));
  assert.deepEqual(
    keep.flatMap((b) => b.paths),
    ds.val.map((s) => s.path),
  );
  assert.deepEqual(
    keep.map((b) => b.size),
    [4, 4, 2],
  );
  const drop = await collect(createLoader(ds.val, pipe, { batchSize: 4, dropLast: true }));
  assert.deepEqual(
    drop.map((b) => b.size),
    [4, 4],
  );
  // Eval is deterministic: two runs agree.
  const again = await collect(createLoader(ds.val, pipe, { batchSize: 4 }));
  assert.deepEqual(again[0].images, keep[0].images);
});

test('memory is bounded by the prefetch window; stopping early stops decoding', async () => {
  const pipe = buildEvalTransform(spec);
  let started = 0;
  const run = pipe.run.bind(pipe);
  pipe.run = (...args: Parameters<typeof run>) => {
    started++;
    return run(...args);
  };
  const loader = createLoader(ds.train, pipe, { batchSize: 4, prefetch: 2, concurrency: 16 });
  for await (const b of loader) {
    assert.equal(b.size > 0, true);
    await new Promise((r) => setTimeout(r, 100)); // a slow consumer
    // Decoded or decoding: the batch held, plus at most `prefetch` batches ahead.
    assert.ok(started <= (1 + 2) * 4, `${started} images started`);
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(started <= 3 * 4, `no decoding after the consumer stopped (${started})`);
});

test('invalid options are rejected with the option named', () => {
  const pipe = buildEvalTransform(spec);
  assert.throws(() => createLoader(ds.val, pipe, { batchSize: 0 }), { code: 'E_BAD_OPTION', message: /batchSize/ });
  assert.throws(() => createLoader(ds.val, pipe, { shufle: true } as never), { code: 'E_BAD_OPTION', message: /shufle/ });
});

test('HEADSTART_DECODE_WORKERS / HEADSTART_DECODE_CONCURRENCY set the defaults; a bad value is rejected naming the variable', async () => {
  const pipe = buildTrainTransform(spec);
  const saved = { w: process.env.HEADSTART_DECODE_WORKERS, c: process.env.HEADSTART_DECODE_CONCURRENCY };
  try {
    const plain = await collect(createLoader(ds.val, pipe, { batchSize: 4, seed: 3, workers: 0, concurrency: 4 }));
    process.env.HEADSTART_DECODE_WORKERS = '1';
    process.env.HEADSTART_DECODE_CONCURRENCY = '1';
    const tuned = await collect(createLoader(ds.val, pipe, { batchSize: 4, seed: 3 }));
    assert.deepEqual(
      tuned.map((b) => b.images),
      plain.map((b) => b.images),
    );
    process.env.HEADSTART_DECODE_WORKERS = 'two';
    assert.throws(() => createLoader(ds.val, pipe), { code: 'E_BAD_OPTION', message: /HEADSTART_DECODE_WORKERS="two": expected a whole number from 0 to 64/ });
    process.env.HEADSTART_DECODE_WORKERS = '';
    process.env.HEADSTART_DECODE_CONCURRENCY = '0';
    assert.throws(() => createLoader(ds.val, pipe), { code: 'E_BAD_OPTION', message: /HEADSTART_DECODE_CONCURRENCY/ });
  } finally {
    for (const [k, v] of [
      ['HEADSTART_DECODE_WORKERS', saved.w],
      ['HEADSTART_DECODE_CONCURRENCY', saved.c],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});
