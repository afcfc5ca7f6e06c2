/**
 * The BatchNorm policy (src/models/bn-momentum.ts): --bn-momentum, else the model's own
 * momentum, else the recipe's 0.1; resolved once, written to config.json, said in the log,
 * and used by the training graph.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseTrainOptions, RECIPES, resolveTrainConfig } from '../src/train/options.js';
import { trainOptionsFromFlags } from '../src/cli/train-flags.js';
import { resolveBnMomentum, TORCH_BN_MOMENTUM } from '../src/models/bn-momentum.js';
import { getModel, listModels } from '../src/models/registry.js';
import { readCheckpoint } from '../src/train/checkpoint.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test("policy: the option wins, then the model's own momentum, then the recipe's rate", () => {
  assert.deepEqual(resolveBnMomentum(0.01, 0.3), { momentum: 0.3, source: 'option' });
  assert.deepEqual(resolveBnMomentum(0.01, undefined), { momentum: 0.01, source: 'model' });
  assert.deepEqual(resolveBnMomentum(undefined, undefined, 0.2), { momentum: 0.2, source: 'recipe' });
  assert.equal(resolveBnMomentum(undefined, undefined).momentum, TORCH_BN_MOMENTUM);
  for (const r of Object.values(RECIPES)) assert.equal(r.bnMomentum, 0.1, "the recipes adapt at torch's rate");
  // Every registered model resolves deliberately: torchvision's keep their own, the Keras import adapts at 0.1.
  const resolved = Object.fromEntries(listModels().map((m) => [m.name, resolveBnMomentum(m.bnMomentum, undefined)]));
  assert.deepEqual(resolved.mobilenet_v2_offline, { momentum: 0.1, source: 'recipe' });
  assert.deepEqual(resolved.mobilenet_v3_large, { momentum: 0.01, source: 'model' });
  for (const name of ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'efficientnet_b0']) assert.deepEqual(resolved[name], { momentum: 0.1, source: 'model' });
  assert.equal(getModel('mobilenet_v2_offline').bnMomentum, undefined, "Keras's 0.999 (torch 0.001) is not the offline backbone's fine-tuning momentum");
});

test('resolveTrainConfig and the --bn-momentum flag', () => {
  const none = parseTrainOptions({});
  assert.equal(resolveTrainConfig(none, 'finetune', 'mobilenet_v2_offline', 'x', undefined).bnMomentum, 0.1);
  assert.equal(resolveTrainConfig(none, 'finetune', 'mobilenet_v3_large', 'x', 0.01).bnMomentum, 0.01);
  const flagged = parseTrainOptions(trainOptionsFromFlags({ 'bn-momentum': '0.05' }));
  assert.equal(resolveTrainConfig(flagged, 'finetune', 'mobilenet_v3_large', 'x', 0.01).bnMomentum, 0.05);
  for (const bad of ['0', '1.5', 'fast']) assert.throws(() => trainOptionsFromFlags({ 'bn-momentum': bad }), /bn-momentum/);
  assert.throws(
    () => parseTrainOptions({ bnMomentum: 0 }),
    (e: Error & { code?: string }) => /bnMomentum/.test(e.message),
  );
});

test('a fine-tuning run uses the resolved momentum: config.json, the log, the running statistics', async () => {
  const root = await makeColourDataset({ train: 6, val: 3 });
  const run = async (bnMomentum?: number) => {
    const out = await tempDir();
    const logs: string[] = [];
    await train(
      root,
      { model: tinySpec, weights: 'none', epochs: 1, threads: 1, lr: 0.05, mode: 'finetune', out, ...(bnMomentum !== undefined ? { bnMomentum } : {}) },
      { listeners: [{ log: (e) => void logs.push(e.message) }] },
    );
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const mean = (await readCheckpoint(join(out, 'checkpoint.bin'))).params.get('bn1.running_mean')!.data as Float32Array;
    return { config, logs, drift: Math.max(...Array.from(mean, Math.abs)) };
  };
  const policy = await run();
  assert.equal(policy.config.bnMomentum, 0.1);
  assert.ok(
    policy.logs.some((l) => /BatchNorm momentum 0\.1 .*recipe's rate/.test(l)),
    policy.logs.join('\n'),
  );
  const slow = await run(1e-4);
  assert.equal(slow.config.bnMomentum, 1e-4);
  assert.ok(slow.logs.some((l) => /BatchNorm momentum 0\.0001 .*--bn-momentum/.test(l)));
  // Running means start at 0: after one epoch they moved ~1000x less at momentum 1e-4 than at 0.1.
  assert.ok(policy.drift > 100 * slow.drift && slow.drift > 0, `running mean drift: ${policy.drift} at 0.1, ${slow.drift} at 1e-4`);
});
