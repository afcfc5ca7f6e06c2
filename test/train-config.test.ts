/** Recipes, overrides and option validation (src/train/options.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCompareOptions, parseTrainOptions, RECIPES, resolveTrainConfig, type ResolvedTrainConfig } from '../src/train/options.js';
import { ConfigError } from '../src/errors.js';
import { trainOptionsFromFlags } from '../src/cli/train-flags.js';

const momentum = (c: ResolvedTrainConfig) => (c.optimizer.type === 'sgd' ? c.optimizer.momentum : undefined);

test('fine-tuning defaults to the torchvision recipe: resnet18, batch 8, SGD 1e-3 momentum 0.9, StepLR 7/0.1, 25 epochs', () => {
  const o = parseTrainOptions({});
  const c = resolveTrainConfig(o, 'finetune', 'resnet18', 'imagenet');
  assert.equal(RECIPES.torchvision.model, 'resnet18');
  assert.equal(RECIPES.torchvision.mode, 'finetune');
  assert.deepEqual(
    {
      epochs: c.epochs,
      batchSize: c.batchSize,
      optimizer: c.optimizer.type,
      lr: c.lr,
      momentum: c.optimizer.type === 'sgd' && c.optimizer.momentum,
      weightDecay: c.optimizer.weightDecay,
      scheduler: c.scheduler.type,
      stepSize: c.scheduler.type === 'step' && c.scheduler.stepSize,
      gamma: c.scheduler.type === 'step' && c.scheduler.gamma,
      labelSmoothing: c.labelSmoothing,
    },
    { epochs: 25, batchSize: 8, optimizer: 'sgd', lr: 1e-3, momentum: 0.9, weightDecay: 0, scheduler: 'step', stepSize: 7, gamma: 0.1, labelSmoothing: 0 },
  );
  // The tutorial's feature extractor uses the same optimiser, under --recipe torchvision.
  const tvFeatures = resolveTrainConfig(parseTrainOptions({ recipe: 'torchvision' }), 'features', 'resnet18', 'x');
  assert.deepEqual([tvFeatures.lr, momentum(tvFeatures), tvFeatures.scheduler], [1e-3, 0.9, { type: 'step', stepSize: 7, gamma: 0.1 }]);
  assert.deepEqual(resolveTrainConfig(parseTrainOptions({ recipe: 'torchvision' }), 'finetune', 'resnet18', 'imagenet'), { ...c, recipe: 'torchvision' });
});

test('the default recipe (headstart) trains the head on cached features with SGD 1e-2 and a cosine schedule; explicit options win', () => {
  const o = parseTrainOptions({});
  assert.equal(o.recipe, 'headstart');
  const fe = resolveTrainConfig(o, 'features', 'resnet18', 'x');
  assert.deepEqual([fe.lr, fe.optimizer.type, momentum(fe), fe.scheduler.type, fe.epochs, fe.batchSize], [1e-2, 'sgd', 0.9, 'cosine', 25, 8]);
  const given = resolveTrainConfig(parseTrainOptions({ lr: 1e-3, scheduler: 'step' }), 'features', 'resnet18', 'x');
  assert.deepEqual([given.lr, given.scheduler], [1e-3, { type: 'step', stepSize: 7, gamma: 0.1 }]);
  const lrOnly = resolveTrainConfig(parseTrainOptions({ lr: 0.05 }), 'features', 'resnet18', 'x');
  assert.deepEqual([lrOnly.lr, lrOnly.scheduler.type], [0.05, 'cosine']);
});

test('floydhub: lr 1e-4; SGD momentum 0.9 when fine-tuning, plain SGD for feature extraction; flags override', () => {
  const o = parseTrainOptions({ recipe: 'floydhub' });
  const ft = resolveTrainConfig(o, 'finetune', 'resnet18', 'x');
  const fe = resolveTrainConfig(o, 'features', 'resnet18', 'x');
  assert.deepEqual(
    [ft.lr, momentum(ft), ft.epochs, ft.batchSize, ft.scheduler.type === 'step' && ft.scheduler.stepSize, ft.scheduler.type === 'step' && ft.scheduler.gamma],
    [1e-4, 0.9, 25, 8, 7, 0.1],
  );
  assert.deepEqual([fe.lr, momentum(fe)], [1e-4, 0]);
  const over = resolveTrainConfig(parseTrainOptions(trainOptionsFromFlags({ recipe: 'floydhub', lr: '0.01', momentum: '0.5', epochs: '3' })), 'features', 'resnet18', 'x');
  assert.deepEqual([over.lr, momentum(over), over.epochs, over.recipe], [0.01, 0.5, 3, 'floydhub']);
});

test("adamw gets torch's default decay; one-cycle peaks at 10x lr unless told", () => {
  const c = resolveTrainConfig(parseTrainOptions({ optimizer: 'adamw', scheduler: 'onecycle', lr: 2e-3 }), 'finetune', 'm', 'x');
  assert.deepEqual([c.optimizer.weightDecay, c.scheduler.type === 'onecycle' && c.scheduler.maxLr, c.scheduler.type === 'onecycle' && c.scheduler.pctStart], [0.01, 0.02, 0.3]);
});

test('options are validated once: unknown keys and bad values name the valid choices', () => {
  assert.throws(
    () => parseTrainOptions({ epoch: 3 }),
    (e: unknown) => e instanceof ConfigError && /unknown option\(s\) `epoch` \(valid: model, weights, mode, recipe, epochs/.test(e.message),
  );
  assert.throws(
    () => parseTrainOptions({ mode: 'fine' }),
    (e: unknown) => e instanceof ConfigError && /mode: .*\(valid: finetune, features, auto\)/.test(e.message),
  );
  // Adam is reachable now; a name that is no optimiser lists the valid ones.
  assert.throws(
    () => parseTrainOptions({ optimizer: 'rmsprop' }),
    (e: unknown) => e instanceof ConfigError && /valid: sgd, adam, adamw/.test(e.message),
  );
  assert.throws(() => parseTrainOptions({ batchSize: 0 }), ConfigError);
  assert.throws(
    () => parseCompareOptions({ mode: 'features' }),
    (e: unknown) => e instanceof ConfigError && /unknown option\(s\) `mode`/.test(e.message),
  );
  assert.throws(() => resolveTrainConfig(parseTrainOptions({ unfreezeLast: 2 }), 'features', 'm', 'x'), /contradicts --mode features/);
});
