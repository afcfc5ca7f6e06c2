/**
 * MixUp and CutMix: soft targets that sum to one, the same images and targets as torchvision
 * v2's MixUp / CutMix for the same lambda and pairing (scripts/mix_reference.py writes v2's
 * formulas in torch: Debian's torchvision 0.14 has no transforms.v2), and Beta(alpha, alpha)
 * draws with the right mean and variance.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { cutmixBox, dominantLabels, drawBatchMix, mixImages, mixRows, oneHot, rollPermutation, sampleBeta, type MixParams } from '../src/data/mix-batch.js';
import { Random } from '../src/random.js';
import { float32s, RecordingRandom, tempDir, torchvisionMissing } from './data-fixtures.js';

test('mixed targets sum to one per image, follow lambda and the pairing, and the dominant label is the heavier one', () => {
  const labels = Int32Array.from([0, 2, 1, 2, 3]);
  for (const lambda of [0.1, 0.5, 0.77]) {
    const p = { lambda, perm: rollPermutation(5) };
    const t = mixRows(oneHot(labels, 4), 4, p);
    for (let i = 0; i < 5; i++) {
      const row = Array.from(t.subarray(i * 4, i * 4 + 4));
      assert.ok(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-6, `row ${i} sums to one`);
      const j = (i + 4) % 5;
      const want = [0, 0, 0, 0];
      want[labels[i]] += lambda;
      want[labels[j]] += 1 - lambda;
      row.forEach((v, k) => assert.ok(Math.abs(v - want[k]) < 1e-6, `row ${i} class ${k}: ${v} vs ${want[k]}`));
    }
    const d = dominantLabels(labels, p);
    assert.deepEqual(Array.from(d), lambda >= 0.5 ? Array.from(labels) : [3, 0, 2, 1, 2]);
  }
  // Mixed cross-entropy coefficients (label smoothing 0.1) keep the loss normalisation: total weight 1.
  const c = mixRows(crossEntropyCoefficients(labels, 4, { labelSmoothing: 0.1 }), 4, { lambda: 0.3, perm: rollPermutation(5) });
  assert.ok(Math.abs(c.reduce((a, b) => a + b, 0) - 1) < 1e-6);
});

test('Beta(alpha, alpha) draws have mean 1/2 and variance 1 / (4 (2 alpha + 1)); lambda stays in [0, 1]', () => {
  for (const alpha of [0.2, 1, 4]) {
    const rng = new Random(7);
    const n = 20000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const x = sampleBeta(rng, alpha);
      assert.ok(x >= 0 && x <= 1);
      s += x;
      s2 += x * x;
    }
    const mean = s / n;
    const variance = s2 / n - mean * mean;
    const want = 1 / (4 * (2 * alpha + 1));
    assert.ok(Math.abs(mean - 0.5) < 0.01, `alpha ${alpha}: mean ${mean}`);
    assert.ok(Math.abs(variance - want) / want < 0.05, `alpha ${alpha}: variance ${variance} vs ${want}`);
  }
});

test('MixUp and CutMix equal torchvision v2 (written out in torch) for the same lambda and pairing', { skip: torchvisionMissing }, () => {
  const dir = tempDir('mix');
  const cases: Record<string, unknown>[] = [];
  const ours: { images: Float32Array; targets: Float32Array; p: MixParams }[] = [];
  const rng = new Random(11);
  const shapes: [number, number, number, number][] = [
    [4, 3, 8, 8],
    [3, 3, 10, 7],
    [5, 2, 6, 9],
  ];
  let i = 0;
  for (const shape of shapes) {
    for (const kind of ['mixup', 'cutmix'] as const) {
      for (const lambda0 of [0.05, 0.42, 0.9, 1]) {
        const [n, c, h, w] = shape;
        const images = Float32Array.from({ length: n * c * h * w }, () => rng.normal());
        const labels = Int32Array.from({ length: n }, () => rng.nextUint32() % 4);
        const file = join(dir, `${i}.in.bin`);
        writeFileSync(file, Buffer.from(images.buffer));
        const rec = new RecordingRandom(Random.derive(5, i));
        let p: MixParams = { kind, lambda: lambda0, perm: rollPermutation(n) };
        if (kind === 'cutmix') {
          const b = cutmixBox(rec, h, w, lambda0);
          p = { ...p, lambda: b.lambda, box: b.box };
        }
        ours.push({ images: mixImages(images, shape, p), targets: mixRows(oneHot(labels, 4), 4, p), p });
        cases.push({ kind, shape, numClasses: 4, labels: Array.from(labels), lambda: lambda0, words: rec.words, images: file });
        i++;
      }
    }
  }
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
  const r = spawnSync('/usr/bin/python3', ['scripts/mix_reference.py', join(dir, 'cases.json'), dir], { encoding: 'utf8', maxBuffer: 16 << 20 });
  assert.equal(r.status, 0, r.stderr);
  const results = JSON.parse(r.stdout) as { box?: number[]; lambda?: number }[];
  let boxes = 0;
  results.forEach((res, k) => {
    const o = ours[k];
    const wantImages = float32s(readFileSync(join(dir, `${k}.images.bin`)));
    const wantTargets = float32s(readFileSync(join(dir, `${k}.targets.bin`)));
    for (let j = 0; j < wantImages.length; j++) assert.ok(Math.abs(o.images[j] - wantImages[j]) <= 1e-6 * (1 + Math.abs(wantImages[j])), `case ${k}: image value ${j}`);
    for (let j = 0; j < wantTargets.length; j++) assert.ok(Math.abs(o.targets[j] - wantTargets[j]) <= 1e-6, `case ${k}: target ${j}`);
    if (res.box) {
      const b = o.p.box!;
      assert.deepEqual([b.x1, b.y1, b.x2, b.y2], res.box, `case ${k}: box`);
      assert.ok(Math.abs(o.p.lambda - res.lambda!) < 1e-12, `case ${k}: adjusted lambda`);
      if (b.x2 > b.x1 && b.y2 > b.y1) boxes++;
    }
  });
  assert.ok(boxes >= 6, `the cases paste non-empty boxes (${boxes})`);
});

test('drawBatchMix: off when both alphas are 0; with both on, batches pick MixUp and CutMix', () => {
  assert.equal(drawBatchMix(new Random(1), 4, 8, 8, { mixup: 0, cutmix: 0 }), null);
  const kinds = new Set<string>();
  for (let k = 0; k < 40; k++) kinds.add(drawBatchMix(Random.derive(2, k), 4, 8, 8, { mixup: 0.2, cutmix: 1 })!.kind);
  assert.deepEqual([...kinds].sort(), ['cutmix', 'mixup']);
});
