/**
 * TrivialAugmentWide and RandAugment equal torchvision 0.14 on PIL images: the same
 * augmentation spaces (op order, every magnitude bin), each op at a spread of magnitudes byte
 * for byte, and whole transforms for the same random words (scripts/data_reference.py replays
 * them into torchvision.transforms.autoaugment).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildTrainTransform } from '../src/data/build-transforms.js';
import { decodeImage } from '../src/data/decode.js';
import { Pipeline } from '../src/data/pipeline.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { AUGMENT_OP_NAMES, applyAugmentOp, type AugmentOpName } from '../src/data/transforms/augment-ops.js';
import { randAugment, randAugmentSpace, trivialAugmentSpace, trivialAugmentWide } from '../src/data/transforms/auto-augment.js';
import { Random } from '../src/random.js';
import { float32s, meanAbsDiff, RecordingRandom, tempDir, torchvisionMissing, torchvisionReference, writeImage } from './data-fixtures.js';

const skip = torchvisionMissing;

function differing(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length, 'same byte count');
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
  return n;
}

test('the augmentation spaces equal torchvision: op order, magnitude bins, signs', { skip }, () => {
  const cases = [
    { kind: 'trivial', bins: 31, width: 0, height: 0 },
    { kind: 'rand', bins: 31, width: 64, height: 48 },
    { kind: 'rand', bins: 11, width: 224, height: 224 },
  ];
  const { results } = torchvisionReference<[string, number[] | null, boolean][]>('space', cases);
  const ours = [trivialAugmentSpace(31), randAugmentSpace(31, 64, 48), randAugmentSpace(11, 224, 224)];
  results.forEach((ref, k) => {
    assert.deepEqual(
      ours[k].map((e) => e.op),
      ref.map((r) => r[0]),
      `${cases[k].kind}: op list`,
    );
    ours[k].forEach((e, i) => {
      assert.equal(e.signed, ref[i][2], `${cases[k].kind} ${e.op}: signed`);
      assert.deepEqual(e.magnitudes, ref[i][1], `${cases[k].kind} ${e.op}: magnitude bins`);
    });
  });
});

test('each op at its magnitude bins equals torchvision _apply_op on PIL byte for byte (square and oblong)', { skip }, async () => {
  const dir = tempDir('augop');
  const images = [join(dir, 'sq.png'), join(dir, 'wide.png')];
  await writeImage(images[0], 40, 40, 11, 'png');
  await writeImage(images[1], 53, 37, 12, 'png');
  const decoded = await Promise.all(images.map((p) => decodeImage(p)));
  const bins = trivialAugmentSpace(31);
  const cases: { path: string; op: AugmentOpName; magnitude: number; k: number }[] = [];
  for (const [k, path] of images.entries()) {
    for (const e of bins) {
      const mags = e.magnitudes ? [0, 1, 7, 15, 20, 23, 30].map((i) => e.magnitudes![i]) : [0];
      for (const m of mags) for (const s of e.signed && m !== 0 ? [1, -1] : [1]) cases.push({ path, op: e.op, magnitude: m * s, k });
    }
    // RandAugment's translate bins are fractions of the size.
    for (const e of randAugmentSpace(31, decoded[k].width, decoded[k].height).filter((x) => x.op.startsWith('Translate'))) cases.push({ path, op: e.op, magnitude: -e.magnitudes![9], k });
  }
  const ref = torchvisionReference('augop', cases);
  const seen = new Set<string>();
  cases.forEach((c, i) => {
    const got = applyAugmentOp(decoded[c.k], c.op, c.magnitude).data;
    assert.equal(differing(got, ref.output(i)), 0, `${c.op}(${c.magnitude}) on ${decoded[c.k].width}x${decoded[c.k].height}: bytes differ`);
    seen.add(c.op);
  });
  assert.deepEqual([...seen].sort(), [...AUGMENT_OP_NAMES].sort(), 'every op is covered');
});

test('TrivialAugmentWide and RandAugment equal torchvision for the same random words', { skip }, async () => {
  const dir = tempDir('autoaug');
  const path = join(dir, 'x.png');
  await writeImage(path, 45, 38, 21, 'png');
  const image = await decodeImage(path);
  const cases: { path: string; kind: string; words: number[]; numOps?: number; magnitude?: number }[] = [];
  const ours: Uint8Array[] = [];
  for (let rep = 0; rep < 40; rep++) {
    const rng = new RecordingRandom(Random.derive(3, rep));
    ours.push(trivialAugmentWide().apply(image, rng).data);
    cases.push({ path, kind: 'trivial', words: rng.words });
  }
  for (let rep = 0; rep < 30; rep++) {
    const rng = new RecordingRandom(Random.derive(4, rep));
    const magnitude = rep % 31;
    ours.push(randAugment({ numOps: 2, magnitude }).apply(image, rng).data);
    cases.push({ path, kind: 'rand', words: rng.words, numOps: 2, magnitude });
  }
  const ref = torchvisionReference<{ used: number }>('autoaug', cases);
  ref.results.forEach((r, i) => {
    assert.equal(r.used, cases[i].words.length, `case ${i} (${cases[i].kind}): torchvision drew as many words`);
    assert.equal(differing(ours[i], ref.output(i)), 0, `case ${i} (${cases[i].kind}): bytes differ`);
  });
});

test('the trivial and randaugment presets (crop + flip + op + Normalize) equal torchvision; the loader path and a worker rebuild agree', { skip }, async () => {
  const dir = tempDir('preset');
  const cases: ({ words: number[] } & Record<string, unknown>)[] = [];
  const ours: Float32Array[] = [];
  const sizes: [number, number][] = [
    [90, 70],
    [50, 64],
  ];
  for (const preset of ['trivial', 'randaugment'] as const) {
    const pipe = buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 48 }, { preset });
    assert.match(pipe.describe(), preset === 'trivial' ? /TrivialAugmentWide/ : /RandAugment\(num_ops=2, magnitude=9/);
    const rebuilt = Pipeline.fromSpec(pipe.spec!);
    for (const [i, [w, h]] of sizes.entries()) {
      const path = join(dir, `${preset}-${i}.png`);
      await writeImage(path, w, h, 40 + i, 'png');
      const image = await decodeImage(path);
      for (let rep = 0; rep < 6; rep++) {
        const rng = new RecordingRandom(Random.derive(9, i, rep));
        const t = pipe.tensorFromImage(image, rng);
        ours.push(t);
        assert.deepEqual(rebuilt.tensorFromImage(image, Random.derive(9, i, rep)), t, 'a pipeline rebuilt from its spec draws and computes the same');
        const fast = await pipe.tensor(readFileSync(path), Random.derive(9, i, rep));
        // The loader path resamples with libvips when downscaling; the ops after it see nearly the same pixels.
        assert.ok(meanAbsDiff(fast, t).mean < 0.05, `loader path close to the reference (${meanAbsDiff(fast, t).mean})`);
        cases.push({
          path,
          words: rng.words,
          size: 48,
          scale: [0.08, 1],
          ratio: [3 / 4, 4 / 3],
          hflip: 0.5,
          preset,
          mean: IMAGENET_PREPROCESS.mean,
          std: IMAGENET_PREPROCESS.std,
          interpolation: 'bilinear',
        });
      }
    }
  }
  const ref = torchvisionReference<{ used: number }>('train', cases);
  ref.results.forEach((r, i) => {
    assert.equal(r.used, cases[i].words.length, `case ${i}: torchvision drew as many words`);
    assert.ok(meanAbsDiff(ours[i], float32s(ref.output(i))).max <= 1e-6, `case ${i} (${String(cases[i].preset)}): tensors differ`);
  });
});
