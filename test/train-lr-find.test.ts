/**
 * The learning-rate finder: on a synthetic quadratic task with a known stability limit the
 * suggestions land in the region where SGD learns and does not diverge; after the sweep the
 * weights, BatchNorm statistics and optimiser state are what they were, bit for bit (a real
 * fine-tuning runner of a tiny CNN); lr-find writes its plot and curve; `--lr auto` picks the
 * valley and records it in config.json.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { loadInitialParams } from '../src/graphs/initial-params.js';
import { suggestLrs } from '../src/optim/lr-suggestions.js';
import { createOptimizer } from '../src/optim/optimizer-config.js';
import { createScheduler } from '../src/optim/scheduler-config.js';
import { Random } from '../src/random.js';
import { createFinetuneRunner } from '../src/train/finetune-runner.js';
import { lrFind } from '../src/train/lr-find.js';
import { lrRangeTest } from '../src/train/lr-range-test.js';
import type { ModeRunner, RunnerBatch } from '../src/train/mode-runner.js';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

/**
 * Least squares with curvatures a_i: loss = mean over the batch of 0.5·Σ a_i (w_i − t_i)², targets
 * t = c + noise. Plain SGD is stable only for lr < 2 / max(a) and learns nothing useful below
 * ~1e-2 / max(a) within 100 steps.
 */
function quadraticRunner(curvatures: number[], seed: number): ModeRunner {
  const d = curvatures.length;
  const w = new Float32Array(d).fill(3);
  const target = Float32Array.from({ length: d }, (_, i) => -1 + 0.1 * i);
  const changing = new Map([['w', { dtype: 'float32' as const, shape: [d], data: w }]]);
  const optimizer = createOptimizer({ type: 'sgd', lr: 0.01, momentum: 0 }, [{ name: 'w', data: w }]);
  const scheduler = createScheduler({ type: 'none' }, optimizer, { stepsPerEpoch: 10, epochs: 1 });
  const rng = new Random(seed);
  const batch = (): RunnerBatch => ({ labels: new Int32Array(4), paths: [], release: () => {} });
  return {
    trainImages: 40,
    valImages: 0,
    trainBatchCount: 10,
    valBatchCount: 0,
    optimizer,
    scheduler,
    changing,
    async *trainBatches() {
      for (let i = 0; i < 10; i++) yield batch();
    },
    async trainStep() {
      let loss = 0;
      const g = new Float32Array(d);
      for (let i = 0; i < d; i++) {
        const t = target[i] + 0.05 * rng.normal();
        loss += 0.5 * curvatures[i] * (w[i] - t) ** 2;
        g[i] = curvatures[i] * (w[i] - t);
      }
      return { loss, logits: new Float32Array(0), grads: new Map([['w', g]]) };
    },
    async *valBatches() {},
    evalStep: async () => ({ loss: 0, logits: new Float32Array(0) }),
    release: async () => {},
  };
}

test('lr range test on a quadratic: stops past the stability limit, suggestions lie where SGD learns and does not diverge, weights restored', async () => {
  const curvatures = [10, 4, 2, 1, 0.5];
  const runner = quadraticRunner(curvatures, 1);
  const before = runner.changing.get('w')!.data.slice();
  const r = await lrRangeTest(runner);
  assert.deepEqual(runner.changing.get('w')!.data, before, 'the weights are restored bit for bit');
  assert.deepEqual(runner.optimizer.getLr(), [0.01], "the optimiser's lr is restored");
  // Stability limit 2 / max(a) = 0.2: the sweep must have gone past it and stopped (4x the minimum), before 10.
  assert.ok(r.stoppedEarly, 'the loss diverges above lr 0.2, so the sweep stops early');
  const last = r.lrs.at(-1)!;
  assert.ok(last > 0.2 && last < 10, `stopped at lr ${last}`);
  assert.equal(r.lrs.length, r.smoothed.length);
  assert.ok(
    r.lrs.every((lr, i) => i === 0 || lr > r.lrs[i - 1]),
    'exponentially increasing',
  );
  assert.ok(Math.abs(r.lrs[1] / r.lrs[0] - (10 / 1e-7) ** (1 / 99)) < 1e-9, 'the ratio of fastai’s schedule over 100 iterations');
  const byName = Object.fromEntries(r.suggestions.map((s) => [s.name, s.lr]));
  // Where plain SGD on these curvatures converges within a few steps: 1e-3 .. 0.2.
  for (const [name, lr] of Object.entries(byName)) assert.ok(lr > 1e-3 && lr < 0.2, `${name} suggests ${lr}: outside [1e-3, 0.2]`);
});

test('suggestions follow fastai: minimum/10 at the lowest loss, steepest descent against log lr, valley inside the longest descent', () => {
  // A synthetic curve: flat, a fall from index 30 to 70 (steepest at 50), a rise after.
  const n = 100;
  const lrs = Array.from({ length: n }, (_, i) => 1e-7 * 1e8 ** (i / (n - 1)));
  const losses = Array.from({ length: n }, (_, i) => (i < 30 ? 2 : i < 70 ? 2 - Math.sin((Math.PI / 2) * ((i - 30) / 40)) ** 2 * 1.5 : 0.5 + (i - 70) * 0.1));
  const [valley, steep, minimum] = suggestLrs(lrs, losses, n);
  assert.equal(minimum.name, 'minimum');
  assert.equal(minimum.lr, lrs[70] / 10);
  // The fall is steepest at index 50 (the two differences around it tie up to rounding).
  assert.ok(steep.lr === lrs[49] || steep.lr === lrs[50], `steep at index ${lrs.indexOf(steep.lr)}`);
  const vi = lrs.indexOf(valley.lr);
  assert.ok(vi > 30 && vi < 70, `valley at index ${vi}`);
});

test('lr range test on a real fine-tuning runner restores weights, BatchNorm statistics and optimiser state bit for bit', async () => {
  const root = await makeColourDataset({ train: 6, val: 2 });
  const folder = await scanImageFolder(root, { valFraction: 0.2, seed: 0 });
  const init = await loadInitialParams(tinySpec, { weights: 'none', numClasses: 3, inputSize: 16, seed: 0 });
  const o = parseTrainOptions({ weights: 'none', batchSize: 4, optimizer: 'adamw', lr: 1e-3 });
  const config = resolveTrainConfig(o, 'finetune', tinySpec.name, 'none');
  const runner = await createFinetuneRunner({
    spec: tinySpec,
    params: init.params,
    numClasses: 3,
    inputSize: 16,
    train: folder.train,
    val: folder.val,
    trainTransform: buildTrainTransform(tinySpec.preprocess),
    evalTransform: buildEvalTransform(tinySpec.preprocess),
    config,
    trainable: () => true,
    session: { threads: 1, device: 'cpu' },
    onSkip: () => {},
  });
  try {
    // One real step first, so the optimiser has state (Adam moments) to restore.
    for await (const b of runner.trainBatches(1)) {
      runner.optimizer.step((await runner.trainStep(b, 1, 0)).grads);
      break;
    }
    const params = new Map([...init.params].map(([n, t]) => [n, (t.data as Float32Array).slice()]));
    const state = runner.optimizer.stateDict();
    const running = [...runner.changing.keys()].filter((n) => n.endsWith('running_mean'));
    assert.ok(running.length > 0, 'the runner changes BatchNorm statistics');
    const r = await lrRangeTest(runner, { numIt: 12, endLr: 1 });
    assert.ok(r.lrs.length >= 2);
    for (const [n, t] of init.params) assert.deepEqual(t.data, params.get(n), `${n} is restored bit for bit`);
    assert.deepEqual(runner.optimizer.stateDict(), state, 'the optimiser state (moments, step counts, lr) is restored');
  } finally {
    await runner.release();
  }
});

test('lr-find writes its plot and curve; train --lr auto takes the valley and says so in config.json', async () => {
  const root = await makeColourDataset({ train: 8, val: 3 });
  const out = await tempDir();
  const cacheDir = await tempDir('cache-');
  const r = await lrFind(root, { model: tinySpec, weights: 'none', mode: 'features', batchSize: 4, threads: 1, out, cacheDir, numIt: 40 });
  for (const f of ['lr-find.svg', 'lr-find.png', 'lr-find.json']) assert.ok(existsSync(join(out, f)), `${f} is missing`);
  const svg = readFileSync(join(out, 'lr-find.svg'), 'utf8');
  for (const s of r.suggestions) assert.ok(svg.includes(s.lr.toExponential(1)), `the plot marks ${s.name} ${s.lr.toExponential(1)}`);
  const json = JSON.parse(readFileSync(join(out, 'lr-find.json'), 'utf8'));
  assert.equal(json.picked.name, 'valley');
  assert.equal(json.lrs.length, json.smoothed.length);

  const logs: string[] = [];
  const runOut = await tempDir();
  const t = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'features', lr: 'auto', epochs: 1, batchSize: 4, threads: 1, out: runOut, cacheDir },
    { listeners: [{ log: (e: { message: string }) => void logs.push(e.message) }] },
  );
  assert.ok(t.config.lrFind, 'config records the sweep');
  assert.equal(t.config.lr, t.config.lrFind.lr);
  assert.equal(t.config.lrFind.picked, 'valley');
  assert.ok(
    logs.some((m) => m.startsWith('--lr auto:') && m.includes(t.config.lr.toExponential(2))),
    logs.join('\n'),
  );
  const config = JSON.parse(readFileSync(join(runOut, 'config.json'), 'utf8'));
  assert.equal(config.lr, t.config.lr);
});
