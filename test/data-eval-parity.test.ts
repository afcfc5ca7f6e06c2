/**
 * The eval pipeline (Resize(256) + CenterCrop(224) + Normalize, decoded by sharp) matches
 * torchvision's PIL pipeline to a mean absolute difference <= 0.01 after normalisation, for
 * JPEGs and PNGs that need downscaling (by small and large factors), upscaling or neither.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvalTransform } from '../src/data/build-transforms.js';
import { decodeImage } from '../src/data/decode.js';
import { IMAGENET_PREPROCESS, type PreprocessSpec } from '../src/data/preprocess.js';
import { Random } from '../src/random.js';
import { float32s, meanAbsDiff, tempDir, torchvisionMissing, torchvisionReference, writeImage, type FixtureFormat } from './data-fixtures.js';

test('eval pipeline matches torchvision Resize(256)+CenterCrop(224)+Normalize to MAD <= 0.01', { skip: torchvisionMissing }, async () => {
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
  const specs: PreprocessSpec[] = [IMAGENET_PREPROCESS, { ...IMAGENET_PREPROCESS, interpolation: 'bicubic', mean: [0, 0, 0], std: [1, 1, 1] }];
  const cases = [];
  const fast: Float32Array[] = [];
  const pure: (Float32Array | null)[] = [];
  for (const [i, [w, h, format]] of images.entries()) {
    const path = join(dir, `${i}.${format === 'jpeg' ? 'jpg' : format}`);
    await writeImage(path, w, h, 300 + i, format);
    for (const spec of specs) {
      const pipe = buildEvalTransform(spec);
      fast.push(await pipe.tensor(readFileSync(path), new Random(0)));
      // The pure JS path is PIL's resampler: exact whenever the decoded bytes are (PNG).
      pure.push(format === 'png' ? pipe.tensorFromImage(await decodeImage(path), new Random(0)) : null);
      cases.push({ path, resizeSize: spec.resizeSize, inputSize: spec.inputSize, mean: spec.mean, std: spec.std, interpolation: spec.interpolation });
    }
  }
  const ref = torchvisionReference('eval', cases);
  const report: string[] = [];
  cases.forEach((c, i) => {
    const want = float32s(ref.output(i));
    const d = meanAbsDiff(fast[i], want);
    report.push(`${c.path.split('/').pop()} ${c.interpolation}: MAD ${d.mean.toFixed(4)}`);
    assert.ok(d.mean <= 0.01, `${c.path} (${c.interpolation}): mean |diff| ${d.mean} > 0.01`);
    const p = pure[i];
    if (p) assert.ok(meanAbsDiff(p, want).max <= 1e-6, `${c.path} (${c.interpolation}): the PIL-exact path differs`);
  });
  console.log(report.join('\n'));
});
