/**
 * Progressive resizing's BatchNorm pass against PyTorch: after an epoch at a smaller size, the
 * runner recomputes every running statistic at the final size (src/train/progressive-resizing.ts).
 * Here ResNet18 (random weights, non-trivial BatchNorm affine parameters) runs that pass on 6
 * colour images at 64 px in batches of 3; PyTorch then runs the same images (the pass's batches,
 * in its order) through torchvision's resnet18 with the same weights in train mode, every
 * BatchNorm reset with momentum=None (torch's cumulative average of each batch's mean and
 * unbiased variance), in float64 (scripts/progressive_bn_reference.py).
 * Tolerance (DESIGN.md): every running_mean/running_var within max(1e-4, 5 x torch fp32's own
 * error against float64) relative (max abs difference over the tensor's largest magnitude).
 * The pass must also leave every weight bit for bit as it was.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { loadInitialParams } from '../src/graphs/initial-params.js';
import { getModel } from '../src/models/registry.js';
import { trainableFilter } from '../src/models/trainable.js';
import { Random } from '../src/random.js';
import { imageBatches } from '../src/train/image-batches.js';
import { createFinetuneRunner } from '../src/train/finetune-runner.js';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import { BN_PASS_EPOCH } from '../src/train/progressive-resizing.js';
import type { NamedTensors } from '../src/tensor.js';
import { loadSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { relError } from './rel-error.js';
import { makeColourDataset, tempDir } from './train-fixtures.js';

const torchCheck = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const skip = torchCheck.status === 0 ? false : 'needs Debian python3-torch and python3-torchvision at /usr/bin/python3';

const SIZE = 64;
const BATCH = 3;
const CLASSES = 3;
const allowed = (torch32: number) => Math.max(1e-4, 5 * torch32);

test('--progressive: the BatchNorm statistics recomputed at the final size equal PyTorch float64 momentum=None statistics on the same images', { skip }, async (t) => {
  const spec = getModel('resnet18');
  const root = await makeColourDataset({ train: 2, val: 1, size: 48 });
  const folder = await scanImageFolder(root);
  const config = resolveTrainConfig(parseTrainOptions({ weights: 'none', epochs: 2, batchSize: BATCH, progressive: [32, SIZE], seed: 3 }), 'finetune', spec.name, 'none');
  const { params } = await loadInitialParams(spec, { weights: 'none', numClasses: CLASSES, inputSize: SIZE, seed: 0 });
  // Non-trivial BatchNorm affine parameters and stale running statistics the pass must replace.
  const rng = new Random(7);
  for (const [name, p] of params) {
    const d = p.data as Float32Array;
    if (/bn\d?\.weight$|downsample\.1\.weight$/.test(name)) d.forEach((_, i) => (d[i] = rng.uniform(0.5, 1.5)));
    else if (/bn\d?\.bias$|downsample\.1\.bias$/.test(name)) d.forEach((_, i) => (d[i] = rng.uniform(-0.3, 0.3)));
    else if (name.endsWith('running_mean')) d.fill(5);
    else if (name.endsWith('running_var')) d.fill(9);
  }
  const running = [...params.keys()].filter((n) => /running_(mean|var)$/.test(n));
  assert.equal(running.length, 40, "ResNet18's 20 BatchNorm layers");
  const weights: NamedTensors = new Map([...params].filter(([n]) => !running.includes(n)).map(([n, p]) => [n, { ...p, data: (p.data as Float32Array).slice() }]));

  const pre = { ...spec.preprocess, inputSize: SIZE, resizeSize: Math.round((SIZE * 256) / 224) };
  const trainTransform = buildTrainTransform(pre);
  const runner = await createFinetuneRunner({
    spec,
    params,
    numClasses: CLASSES,
    inputSize: SIZE,
    train: folder.train,
    val: folder.val,
    trainTransform,
    evalTransform: buildEvalTransform(pre),
    transformAt: (size) => buildTrainTransform({ ...pre, inputSize: size, resizeSize: size }),
    config,
    trainable: trainableFilter(spec, { mode: 'finetune' }),
    session: { threads: 2 },
    onSkip: () => {},
  });
  try {
    await runner.afterTrainPhase!(1); // epoch 1 of 2 is at 32 px: the statistics are recomputed at 64
  } finally {
    await runner.release();
  }
  for (const [n, w] of weights) assert.deepEqual(params.get(n)!.data, w.data, `the pass changed the weight ${n}`);

  // The pass's batches: the run's training augmentation at the final size, in the pass's seeded order.
  const batches: NamedTensors = new Map();
  for await (const b of imageBatches(folder.train, trainTransform, { batchSize: BATCH, shuffle: true, seed: config.seed, epoch: BN_PASS_EPOCH + 1, onSkip: () => {} })) {
    const n = b.labels.length;
    batches.set(`batch:${batches.size}`, { dtype: 'float32', shape: [n, 3, SIZE, SIZE], data: b.images.slice(0, n * 3 * SIZE * SIZE) });
    b.release();
  }
  assert.equal(batches.size, 2);
  const dir = await tempDir('headstart-progressive-bn-');
  writeFileSync(join(dir, 'state.safetensors'), writeSafetensors(weights));
  writeFileSync(join(dir, 'batches.safetensors'), writeSafetensors(batches));
  const run = spawnSync(
    '/usr/bin/python3',
    ['scripts/progressive_bn_reference.py', 'resnet18', String(CLASSES), join(dir, 'state.safetensors'), join(dir, 'batches.safetensors'), join(dir, 'ref.safetensors')],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, `scripts/progressive_bn_reference.py failed: ${run.stderr}`);
  const ref = JSON.parse(run.stdout) as { names: string[]; torch32: Record<string, number> };
  assert.deepEqual([...ref.names].sort(), [...running].sort());
  const stats = await loadSafetensors(join(dir, 'ref.safetensors'));
  const failures: string[] = [];
  let worst = 0;
  for (const name of running) {
    const err = relError(params.get(name)!.data as Float32Array, stats.get(`stats64:${name}`)!.data as Float32Array);
    const tol = allowed(ref.torch32[name]);
    worst = Math.max(worst, err / tol);
    if (!(err <= tol)) failures.push(`${name}: relative error ${err.toExponential(2)} > ${tol.toExponential(2)} (torch fp32: ${ref.torch32[name].toExponential(2)})`);
  }
  t.diagnostic(`${running.length} running statistics; worst ${(100 * worst).toFixed(0)}% of tolerance`);
  assert.deepEqual(failures, []);
});
