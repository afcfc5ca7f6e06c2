/**
 * --recipe fastai (fastai's fine_tune): discriminative learning rates reach the right
 * parameter groups — read back from the optimiser's state and from the size of one AdamW
 * update, for every registered model — and a run first trains the head alone on cached
 * features, then everything with per-stage rates that history.json/.csv record per group.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { networkParamDefs } from '../src/graphs/network-params.js';
import { listModels } from '../src/models/registry.js';
import { stageOf } from '../src/models/trainable.js';
import type { Param } from '../src/optim/optimizer.js';
import { parseTrainOptions, resolveTrainConfig, RECIPES } from '../src/train/options.js';
import { createRunOptimizer } from '../src/train/run-optimizer.js';
import { historyFromJson } from '../src/metrics/history.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('recipe fastai resolves to AdamW with decoupled weight decay, one-cycle, lr_mult 100 and one frozen epoch, each overridable', () => {
  const c = resolveTrainConfig(parseTrainOptions({ recipe: 'fastai' }), 'finetune', 'resnet18', 'x');
  assert.equal(c.optimizer.type, 'adamw');
  assert.deepEqual((c.optimizer as { betas: number[] }).betas, [0.9, 0.99]);
  assert.equal((c.optimizer as { weightDecay: number }).weightDecay, 0.01);
  assert.equal(c.scheduler.type, 'onecycle');
  assert.equal((c.scheduler as { maxLr?: unknown }).maxLr, undefined, "one-cycle's peak is each group's own lr");
  assert.equal(c.lrMult, 100);
  assert.deepEqual({ epochs: c.freeze?.epochs, lr: c.freeze?.lr, unfreezeLr: c.freeze?.unfreezeLr }, { epochs: 1, lr: 2e-3, unfreezeLr: 1e-3 });
  assert.equal((c.freeze?.scheduler as { pctStart: number }).pctStart, 0.99);
  const o = resolveTrainConfig(parseTrainOptions({ recipe: 'fastai', lr: 0.01, freezeEpochs: 2, lrMult: 10, unfreezeLr: 3e-3, epochs: 6 }), 'finetune', 'resnet18', 'x');
  assert.deepEqual({ lrMult: o.lrMult, epochs: o.freeze?.epochs, lr: o.freeze?.lr, unfreezeLr: o.freeze?.unfreezeLr }, { lrMult: 10, epochs: 2, lr: 0.01, unfreezeLr: 3e-3 });
  assert.equal(resolveTrainConfig(parseTrainOptions({ recipe: 'fastai' }), 'features', 'resnet18', 'x').freeze, null, 'features mode has nothing to unfreeze');
  assert.throws(() => resolveTrainConfig(parseTrainOptions({ recipe: 'fastai', backboneLr: 1e-4 }), 'finetune', 'm', 'x'), { code: 'E_INCOMPATIBLE_OPTIONS' });
  assert.throws(() => resolveTrainConfig(parseTrainOptions({ recipe: 'fastai', epochs: 1 }), 'finetune', 'm', 'x'), { code: 'E_INCOMPATIBLE_OPTIONS' });
  assert.equal(RECIPES.fastai.batchSize, 64);
});

for (const spec of listModels()) {
  test(`${spec.name}: discriminative lrs — one optimiser group per stage, lr/100 at the stem rising geometrically to lr at the head; one AdamW step moves each parameter by its group's lr`, () => {
    const config = resolveTrainConfig(parseTrainOptions({ recipe: 'fastai', lr: 1e-2 }), 'finetune', spec.name, 'x');
    const phase = { ...config, lr: 1e-2 };
    const params: Param[] = networkParamDefs(spec, 3).map((d) => ({ name: d.name, data: new Float32Array(d.shape.reduce((a, b) => a * b, 1)).fill(0.5) }));
    const { optimizer, groupNames } = createRunOptimizer(phase, spec, params, 10);
    const stages = [...spec.stages.filter((s) => s !== spec.head.name), spec.head.name];
    const sd = optimizer.stateDict();
    assert.equal(sd.groups.length, groupNames.length);
    assert.equal(groupNames.at(-1), spec.head.name);
    // Group lrs as the one-cycle schedule starts them (peak / divFactor 5): the ratio is what is checked.
    const lrs = sd.groups.map((g) => g.lr as number);
    const head = lrs.at(-1)!;
    for (const [gi, g] of sd.groups.entries()) {
      const stage = groupNames[gi];
      for (const name of g.params) assert.equal(stageOf(name, stages), stage, `${name} is in the group of ${stage}`);
      const i = stages.indexOf(stage);
      const expected = 100 ** (-(stages.length - 1 - i) / (stages.length - 1));
      assert.ok(Math.abs(lrs[gi] / head - expected) < 1e-9, `${stage}: lr ratio ${lrs[gi] / head}, expected ${expected}`);
    }
    assert.equal(groupNames[0], stages[0]);
    assert.ok(Math.abs(lrs[0] / head - 0.01) < 1e-9, 'the first stage runs at lr/100');
    assert.equal(
      sd.groups.reduce((n, g) => n + g.params.length, 0),
      params.length,
      'every parameter is in exactly one group',
    );
    // One AdamW step with unit gradients: each parameter moves by ~its group's lr (Adam's first step is lr·sign(g)), plus the decoupled decay lr·wd·p.
    const grads = new Map(params.map((p) => [p.name, new Float32Array(p.data.length).fill(1)]));
    optimizer.step(grads);
    for (const [gi, g] of sd.groups.entries()) {
      const lr = lrs[gi];
      const p = params.find((x) => x.name === g.params[0])!;
      const moved = 0.5 - p.data[0];
      const expected = lr + lr * 0.01 * 0.5;
      assert.ok(Math.abs(moved - expected) / expected < 1e-3, `${g.params[0]} moved ${moved}, its group's lr gives ${expected}`);
    }
  });
}

test('train --recipe fastai: epoch 1 trains the head on cached features, then every stage at its own lr, recorded per group in history', async () => {
  const root = await makeColourDataset({ train: 8, val: 3 });
  const out = await tempDir();
  const logs: string[] = [];
  const extracts: number[] = [];
  const r = await train(
    root,
    { model: tinySpec, weights: 'none', recipe: 'fastai', epochs: 3, batchSize: 4, lr: 0.01, threads: 1, out, cacheDir: await tempDir('cache-') },
    { listeners: [{ log: (e: { message: string }) => void logs.push(e.message), phase_start: (e: { phase: string }) => void (e.phase === 'extract' && extracts.push(1)) }] },
  );
  assert.equal(r.mode, 'finetune');
  assert.ok(r.featureCache, 'the frozen epoch ran from the feature cache');
  assert.equal(extracts.length, 1, 'one pass of the backbone over the images');
  assert.ok(
    logs.some((m) => m.startsWith('epoch 1: the new classifier alone on cached features')),
    logs.join('\n'),
  );
  assert.ok(
    logs.some((m) => m.startsWith('epochs 2-3: everything unfrozen, adamw, onecycle')),
    logs.join('\n'),
  );
  const history = historyFromJson(readFileSync(join(out, 'history.json'), 'utf8'));
  assert.equal(history.epochs.length, 3);
  assert.equal(history.epochs[0].lrs, undefined, 'the frozen epoch has one group');
  const stages = ['conv1', 'bn1', 'conv2', 'bn2', 'fc'];
  for (const e of history.epochs.slice(1)) {
    assert.deepEqual(Object.keys(e.lrs ?? {}), stages);
    assert.ok(Math.abs(e.lrs!.fc / e.lrs!.conv1 - 100) < 1e-6, `lr ratio head/stem ${e.lrs!.fc / e.lrs!.conv1}`);
  }
  const csv = readFileSync(join(out, 'history.csv'), 'utf8').trim().split('\n');
  assert.ok(csv[0].endsWith(stages.map((s) => `lr_${s}`).join(',')), csv[0]);
  assert.equal(csv[1].split(',').length, csv[0].split(',').length);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.recipe, 'fastai');
  assert.equal(config.lrMult, 100);
  assert.equal(config.freeze.epochs, 1);
  assert.equal(config.freeze.unfreezeLr, 0.005);
});
