/**
 * Cached partial fine-tuning: the frozen stages' output, computed once by the prefix graph,
 * through the trainable stages' suffix graph gives the same loss, logits, gradients and
 * BatchNorm statistics as the whole training graph on the same images (1e-5 relative, float32
 * cache), and the same eval logits; a run with --cache-frozen caches those activations in the
 * feature cache and trains only the last stages.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { buildFrozenCut } from '../src/graphs/frozen-cut.js';
import { loadInitialParams } from '../src/graphs/initial-params.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { trainableFilter } from '../src/models/trainable.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random } from '../src/random.js';
import type { NamedTensors } from '../src/tensor.js';
import { cloneTensors } from '../src/train/checkpoint.js';
import { cachedStep, cachedStepOutputs, cutFeeds } from '../src/train/cached-partial-runner.js';
import { train } from '../src/train/train.js';
import { relError } from './rel-error.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

const B = 4;
const S = 16;

for (const unfreezeLast of [1, 2, 3]) {
  test(`--unfreeze-last ${unfreezeLast}: cached prefix + trainable suffix = the whole training step (loss, logits, gradients, BatchNorm statistics) and the whole eval graph`, async () => {
    const init = await loadInitialParams(tinySpec, { weights: 'none', numClasses: 3, inputSize: S, seed: 3 });
    const trainable = trainableFilter(tinySpec, { mode: 'finetune', unfreezeLast });
    const rng = new Random(7);
    const images = Float32Array.from({ length: B * 3 * S * S }, () => rng.normal());
    const targets = crossEntropyCoefficients(Int32Array.from([0, 2, 1, 2]), 3, {});
    const options = { batch: B, numClasses: 3, inputSize: S, trainable, constants: init.params };

    const whole: NamedTensors = cloneTensors(init.params);
    const full = buildTrainingGraph(tinySpec, { ...options, constants: whole });
    const fullSession = await TrainingSession.create(full, whole, { threads: 1 });
    const ref = await fullSession.step(images, targets);
    const refGrads = new Map([...ref.grads].map(([k, v]) => [k, v.slice()]));
    await fullSession.release();

    const cached: NamedTensors = cloneTensors(init.params);
    const cut = buildFrozenCut(tinySpec, { ...options, constants: cached });
    const prefix = await Session.create(cut.prefix, { threads: 1 });
    const x = (await prefix.run({ [IO.images]: { dtype: 'float32', shape: [B, 3, S, S], data: images } }, [IO.features]))[IO.features].data as Float32Array;
    assert.equal(x.length, B * cut.dim);
    const graph = cut.training(B);
    assert.deepEqual([...graph.trainable].sort(), [...full.trainable].sort(), 'the suffix trains the same parameters');
    const suffix = await Session.create(graph.bytes, { threads: 1 });
    const got = await cachedStep(suffix, graph, cached, cut.cut, cut.dim, x, targets);
    assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `loss ${got.loss} vs ${ref.loss}`);
    assert.ok(relError(got.logits, ref.logits) <= 1e-5, 'logits');
    for (const [name, g] of refGrads) assert.ok(relError(got.grads.get(name)!, g) <= 1e-5, `gradient of ${name}: ${relError(got.grads.get(name)!, g)}`);
    for (const name of full.running) assert.ok(relError(cached.get(name)!.data as Float32Array, whole.get(name)!.data as Float32Array) <= 1e-5, `running statistic ${name}`);

    // Eval: prefix + eval suffix = the whole inference graph.
    const inf = buildInferenceGraph(tinySpec, { batch: -1, numClasses: 3, inputSize: S, constants: whole });
    const infSession = await Session.create(inf.bytes, { threads: 1 });
    const refLogits = (await infSession.run({ [IO.images]: { dtype: 'float32', shape: [B, 3, S, S], data: images } }, [IO.logits]))[IO.logits].data as Float32Array;
    const evalSession = await Session.create(cut.evalGraph.bytes, { threads: 1 });
    const shapes = new Map(cut.evalGraph.params.map((p) => [p.name, p.shape]));
    const feeds = cutFeeds(x, B, cut.evalCut, cut.dim);
    for (const n of cut.evalGraph.fed) feeds[n] = { dtype: 'float32', shape: shapes.get(n)!, data: whole.get(n)!.data };
    const evalLogits = (await evalSession.run(feeds, [IO.logits]))[IO.logits].data as Float32Array;
    assert.ok(relError(evalLogits, refLogits) <= 1e-5, `eval logits ${relError(evalLogits, refLogits)}`);
    if (unfreezeLast === 1) assert.equal(cut.cut.length, 2, 'a residual block: the cut holds the skip path too');
    await Promise.all([prefix.release(), suffix.release(), infSession.release(), evalSession.release()]);
  });
}

test('train --unfreeze-last 1 --cache-frozen: the frozen stages run once (feature cache), the last stage and the head train', async () => {
  const root = await makeColourDataset({ train: 8, val: 3 });
  const extracts: number[] = [];
  const r = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'finetune', unfreezeLast: 1, cacheFrozen: true, epochs: 2, batchSize: 4, lr: 0.05, threads: 1, out: await tempDir(), cacheDir: await tempDir('cache-') },
    { listeners: [{ phase_start: (e: { phase: string }) => void (e.phase === 'extract' && extracts.push(1)) }] },
  );
  assert.ok(r.featureCache, 'the activations went through the feature cache');
  assert.equal(extracts.length, 1);
  assert.equal(r.history.epochs.length, 2);
  assert.ok(r.bestValAcc >= 0.5, `best val acc ${r.bestValAcc} on an easy task`);
});

for (const name of ['resnet18', 'mobilenet_v2_offline']) {
  test(`${name} --unfreeze-last 1 at 32 px: the cached step's gradients equal the whole training step's (1e-5 relative)`, async () => {
    const spec = getModel(name);
    const S32 = 32;
    const init = await loadInitialParams(spec, { weights: 'none', numClasses: 3, inputSize: S32, seed: 3 });
    const options = { batch: B, numClasses: 3, inputSize: S32, trainable: trainableFilter(spec, { mode: 'finetune', unfreezeLast: 1 }) };
    const rng = new Random(11);
    const images = Float32Array.from({ length: B * 3 * S32 * S32 }, () => rng.normal());
    const targets = crossEntropyCoefficients(Int32Array.from([0, 2, 1, 2]), 3, {});
    const whole = cloneTensors(init.params);
    const full = buildTrainingGraph(spec, { ...options, constants: whole });
    const fullSession = await TrainingSession.create(full, whole, { threads: 1 });
    const ref = await fullSession.step(images, targets);
    const refGrads = new Map([...ref.grads].map(([k, v]) => [k, v.slice()]));
    await fullSession.release();
    const cached = cloneTensors(init.params);
    const cut = buildFrozenCut(spec, { ...options, constants: cached });
    const prefix = await Session.create(cut.prefix, { threads: 1 });
    const x = (await prefix.run({ [IO.images]: { dtype: 'float32', shape: [B, 3, S32, S32], data: images } }, [IO.features]))[IO.features].data as Float32Array;
    const graph = cut.training(B);
    const suffix = await Session.create(graph.bytes, { threads: 1 });
    // The runner's way: output buffers allocated once and refilled by every step.
    const outputs = cachedStepOutputs(graph, 3);
    for (let step = 0; step < 2; step++) {
      const got = await cachedStep(suffix, graph, cached, cut.cut, cut.dim, x, targets, undefined, outputs);
      assert.ok(refGrads.size > 2, 'the last stage and the head train');
      for (const [p, g] of refGrads) {
        assert.equal(got.grads.get(p), outputs[IO.grad(p)].data, `step ${step}: the gradient of ${p} is in its preallocated buffer`);
        assert.ok(relError(got.grads.get(p)!, g) <= 1e-5, `step ${step}: gradient of ${p}: ${relError(got.grads.get(p)!, g)}`);
      }
      assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss));
      (outputs[IO.grad(full.trainable[0])].data as Float32Array).fill(Number.NaN); // the next step must overwrite it
    }
    await Promise.all([prefix.release(), suffix.release()]);
  });
}
