/** --mode auto: the decision rule, the linear probe, and a run that says why it chose. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideMode, linearProbe } from '../src/train/auto-mode.js';
import { train } from '../src/train/train.js';
import { Random } from '../src/random.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('the rule: strong probe -> features; little data -> features; lots of data and a weak probe -> finetune', () => {
  assert.equal(decideMode({ trainImages: 20000, numClasses: 2, probeAcc: 0.95 }).mode, 'features');
  const small = decideMode({ trainImages: 240, numClasses: 4, probeAcc: 0.6 });
  assert.equal(small.mode, 'features');
  assert.match(small.reason, /only 240 training images \(60 per class\)/);
  const big = decideMode({ trainImages: 20000, numClasses: 2, probeAcc: 0.7 });
  assert.equal(big.mode, 'finetune');
  assert.match(big.reason, /70\.0% val accuracy/);
});

test('the linear probe separates separable features and stays at chance on noise', () => {
  const rng = new Random(1);
  const make = (n: number, signal: number) => {
    const x = new Float32Array(n * 8);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = i % 2;
      for (let d = 0; d < 8; d++) x[i * 8 + d] = rng.normal() + (d === 0 ? signal * (y[i] ? 1 : -1) : 0);
    }
    return { x, y };
  };
  assert.ok(linearProbe(make(200, 3), make(100, 3), 8, 2) > 0.95);
  assert.ok(linearProbe(make(200, 0), make(400, 0), 8, 2) < 0.62);
});

test('train --mode auto decides, says why, and trains in the chosen mode', async () => {
  const root = await makeColourDataset({ train: 8, val: 4 });
  const logs: string[] = [];
  let extractions = 0;
  const listener = { log: (e: { message: string }) => void logs.push(e.message), phase_start: (e: { phase: string }) => void (extractions += e.phase === 'extract' ? 1 : 0) };
  const r = await train(root, { model: tinySpec, weights: 'none', mode: 'auto', epochs: 1, threads: 1, out: await tempDir(), cacheDir: await tempDir('cache-') }, { listeners: [listener] });
  assert.ok(r.autoDecision);
  assert.equal(r.mode, r.autoDecision.mode);
  assert.equal(r.mode, 'features', '8 images per class is a small dataset');
  assert.ok(
    logs.some((l) => /^--mode auto chose feature extraction: /.test(l)),
    logs.join('\n'),
  );
  assert.equal(extractions, 1, "the features run reuses the probe's extraction");
});
