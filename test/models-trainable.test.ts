import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { ConfigError } from '../src/errors.js';
import { initParams } from '../src/models/init-params.js';
import { NetBuilder } from '../src/models/net-builder.js';
import { getModel, listModels } from '../src/models/registry.js';
import { backboneStages, stageOf, trainableFilter, underPrefix } from '../src/models/trainable.js';
import type { ModelSpec } from '../src/models/model-spec.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Graph } from '../src/onnx/graph.js';
import { Random } from '../src/random.js';

/** Learnable parameter names of a spec with its head, in declaration (input to output) order. */
function learnable(spec: ModelSpec): string[] {
  const g = new Graph();
  const b = new NetBuilder(g, { mode: 'eval' });
  const size = spec.preprocess.inputSize;
  b.linear(spec.features(b, g.input('images', 'float32', [1, 3, size, size])), spec.head.name, 3);
  return b.params.filter((p) => p.role !== 'running_mean' && p.role !== 'running_var').map((p) => p.name);
}

test('prefixes match at name boundaries only', () => {
  assert.ok(underPrefix('features.1.conv.0.0.weight', 'features.1'));
  assert.ok(!underPrefix('features.10.conv.0.0.weight', 'features.1'));
  assert.ok(underPrefix('block_1_expand.weight', 'block_1'));
  assert.ok(!underPrefix('block_10_expand.weight', 'block_1'));
  assert.ok(underPrefix('fc', 'fc'));
  assert.ok(!underPrefix('fc2.weight', 'fc'));
  assert.equal(stageOf('Conv_1_bn.weight', ['Conv', 'Conv_1']), 'Conv_1', 'the longest matching stage wins');
  assert.equal(stageOf('other.weight', ['features.0']), undefined);
});

// Loops over the registry: a new architecture's stages are checked as soon as it is registered.
for (const spec of listModels()) {
  test(`${spec.name}: stages cover every parameter, in input-to-output order, head last`, () => {
    const names = learnable(spec);
    const all = spec.stages.includes(spec.head.name) ? spec.stages : [...spec.stages, spec.head.name];
    const orphans = names.filter((n) => stageOf(n, all) === undefined);
    assert.deepEqual(orphans, [], 'parameters outside every stage could never be unfrozen by stage');
    const firstIndex = all.map((s) => names.findIndex((n) => stageOf(n, all) === s));
    assert.ok(!firstIndex.includes(-1), `a stage with no parameters: ${all.filter((_, i) => firstIndex[i] === -1).join(', ')}`);
    for (let i = 1; i < firstIndex.length; i++) assert.ok(firstIndex[i] > firstIndex[i - 1], `stage ${all[i]} starts before ${all[i - 1]}`);
    assert.equal(stageOf(names[names.length - 1], all), spec.head.name);

    const head = names.filter(trainableFilter(spec, { mode: 'features' }));
    assert.deepEqual(head, [`${spec.head.name}.weight`, `${spec.head.name}.bias`]);
    assert.equal(names.filter(trainableFilter(spec, { mode: 'finetune' })).length, names.length);
    const k = backboneStages(spec).length;
    assert.equal(names.filter(trainableFilter(spec, { mode: 'finetune', unfreezeLast: k })).length, names.length, 'all stages = fine-tune everything');
    assert.deepEqual(names.filter(trainableFilter(spec, { mode: 'finetune', unfreezeLast: 0 })), head, 'no stage = the head only');
    const one = names.filter(trainableFilter(spec, { mode: 'finetune', unfreezeLast: 1 }));
    assert.ok(one.length > head.length && one.length < names.length);
    assert.deepEqual(one.slice(-2), head);
  });
}

test('unfreezeLast K opens exactly the last K stages and the head (mobilenet_v2, mobilenet_v3_large)', () => {
  const v2 = getModel('mobilenet_v2');
  const open = learnable(v2).filter(trainableFilter(v2, { mode: 'finetune', unfreezeLast: 2 }));
  assert.deepEqual([...new Set(open.map((n) => n.split('.').slice(0, 2).join('.')))], ['features.17', 'features.18', 'classifier.1']);
  const v3 = getModel('mobilenet_v3_large');
  // classifier.0 (Linear 960 -> 1280, pre-logits) is the last backbone stage.
  assert.deepEqual(learnable(v3).filter(trainableFilter(v3, { mode: 'finetune', unfreezeLast: 1 })), ['classifier.0.weight', 'classifier.0.bias', 'classifier.3.weight', 'classifier.3.bias']);
});

test('invalid trainable options are ConfigErrors that say what is allowed', () => {
  const spec = getModel('resnet18');
  assert.throws(
    () => trainableFilter(spec, { mode: 'finetune', unfreezeLast: 99 }),
    (e: unknown) => e instanceof ConfigError && /99 is more than the 6 stages of resnet18/.test(e.message),
  );
  assert.throws(() => trainableFilter(spec, { mode: 'features', unfreezeLast: 2 }), ConfigError);
  assert.throws(() => trainableFilter(spec, { mode: 'finetune', unfreezeLast: 1.5 }), ConfigError);
  assert.throws(
    () => trainableFilter(spec, { mode: 'finetune', freeze: true } as never),
    (e: unknown) => e instanceof ConfigError && /freeze/.test(e.message),
  );
  assert.throws(() => trainableFilter(spec, { mode: 'all' } as never), ConfigError);
});

test('frozen stages: no gradients, BatchNorm in inference mode, running statistics byte-identical after a step', async () => {
  const spec = getModel('mobilenet_v2');
  const trainable = trainableFilter(spec, { mode: 'finetune', unfreezeLast: 2 });
  const graph = buildTrainingGraph({ ...spec, head: { ...spec.head, dropout: 0 } }, { batch: 2, numClasses: 3, inputSize: 32, trainable });
  const params = initParams(graph.params, 1);
  const rng = new Random(2);
  for (const p of graph.params) {
    if (p.role !== 'running_mean' && p.role !== 'running_var') continue;
    const d = params.get(p.name)!.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = p.role === 'running_var' ? rng.uniform(0.5, 1.5) : rng.uniform(-0.5, 0.5);
  }
  const before = new Map([...params].map(([k, t]) => [k, Buffer.from((t.data as Float32Array).slice().buffer)]));
  const session = await TrainingSession.create(graph, params, { threads: 2 });
  const images = Float32Array.from({ length: 2 * 3 * 32 * 32 }, () => rng.normal());
  const step = await session.step(images, crossEntropyCoefficients([0, 2], 3));
  await session.release();

  assert.ok(Number.isFinite(step.loss));
  assert.deepEqual(
    [...step.grads.keys()].sort(),
    graph.params
      .filter((p) => p.role !== 'running_mean' && p.role !== 'running_var' && trainable(p.name))
      .map((p) => p.name)
      .sort(),
  );
  let frozen = 0;
  let updated = 0;
  for (const p of graph.params) {
    if (p.role !== 'running_mean' && p.role !== 'running_var') continue;
    const same = before.get(p.name)!.equals(Buffer.from((params.get(p.name)!.data as Float32Array).buffer));
    if (trainable(p.name.replace(/\.running_(mean|var)$/, '.weight'))) {
      assert.ok(!same, `${p.name} (trained stage) should be updated by the step`);
      updated++;
    } else {
      assert.ok(same, `${p.name} (frozen stage) changed`);
      frozen++;
    }
  }
  assert.ok(frozen > 90 && updated === 8, `frozen ${frozen}, updated ${updated}`);
});
