/**
 * The all-native training step (native/headstart_plan.cc, src/engine/native-plan.ts,
 * src/graphs/native-training-session.ts) against headstart's ONNX engine on ResNet18: the same
 * images, targets and parameters go to both; loss, logits, every parameter gradient and every
 * running statistic must agree after each of 3 SGD steps (each engine updating its own parameters
 * with its own gradients, so errors would accumulate), then the eval-mode logits. Skipped where the
 * addon is not built (`npm run build:native` needs g++ and Debian libdnnl-dev).
 *
 * Tolerance: relError (max abs difference / the reference's largest magnitude) <= 2e-4. Both engines
 * are float32 with different summation orders; at 64x64 with batch 4 every BatchNorm normalises >= 16
 * values per channel. Seen here: loss, logits, running statistics and most gradients within 3e-5; the
 * largest, 1.2e-4, a weight gradient of layer4 (2x2 maps: 16 products per weight, summed in another
 * order after two SGD steps). A wrong rule is far outside it: with the ReLU backward of the residual
 * Add skipped the gradients differ by more than 1e-1. What a float32 comparison cannot absorb is a ReLU
 * whose input lies within rounding noise of 0, on one side in one engine and on the other side in the
 * other: that element's mask differs and a few gradients move by ~1e-2. So the BatchNorm shifts are
 * drawn around +1 (fewer pre-activations near 0) and the inputs are fixed; a failure of that kind shows
 * as a single BatchNorm bias far off while its scale agrees.
 *
 * MobileNetV2 (torchvision's and the Keras twin): depthwise convolutions, ReLU6 (Clip), plain residual
 * Adds, the head's dropout (the same keyed random source on both engines: the same mask), 2 SGD steps at
 * the same tolerance. Its BatchNorm shifts are drawn in [1.7, 2.3]: with ResNet's [0.7, 1.3] ReLU6 mask
 * flips showed (one BatchNorm bias off by 0.2 at step 2); much larger shifts make the inputs of the convs
 * before a batch-statistics BatchNorm large in mean, and their weight gradients (sum dy x with sum dy = 0)
 * cancel badly in float32 (see native/README.md). A dropout backward without the mask fails this by 0.4.
 *
 * EfficientNet-B0's stochastic depth: the row masks (drawn from the same keyed source, before the head's
 * dropout mask, on both engines) multiply the residual branches, at a rate of 0.9 so that branches are dropped.
 *
 * EfficientNet-B0 and MobileNetV3-Large: SiLU (x * Sigmoid(x) as one swish), Sigmoid and HardSigmoid gates,
 * squeeze-excitation's broadcast Mul and biased 1x1 convs, HardSwish, 5x5 depthwise convs (their weight
 * gradient by the addon's own loop), MobileNetV3's linear layer inside the features; 2 SGD steps each. A
 * BatchNorm shift's gradient is measured against its scale gradient's magnitude too (gradError, below).
 * MobileNetV3 keeps ResNet's shifts: around 2 many HardSwish inputs sit near its kink at 3. Zeroing the
 * gate gradient of the squeeze-excitation Mul fails this by 0.48.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { nativePlanUnavailable } from '../src/engine/native-plan.js';
import { EngineError } from '../src/errors.js';
import { fillDropoutMask } from '../src/graphs/dropout-mask.js';
import { compileNativeNetwork, NativeEvalSession, NativeTrainingSession } from '../src/graphs/native-training-session.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { TrainingSession, type StepResult } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel, listModels } from '../src/models/registry.js';
import type { NetBuilder } from '../src/models/net-builder.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { keyedRandom, Random } from '../src/random.js';
import type { ModelSpec } from '../src/models/model-spec.js';
import type { NamedTensors } from '../src/tensor.js';
import { matchStateDict } from '../src/weights/load-state.js';
import { loadSafetensors } from '../src/weights/safetensors.js';
import { relError } from './rel-error.js';

const unavailable = nativePlanUnavailable();
const skip = unavailable ?? false;
const TOL_DEFAULT = 2e-4;
const spec = getModel('resnet18');
const resnet18 = spec;
const K = 5;

/** Parameters with non-trivial BatchNorm affine values and running statistics. */
function params(batch: number, size: number, seed: number, model: ModelSpec = spec, shift: readonly [number, number] = [0.7, 1.3]): NamedTensors {
  const g = buildTrainingGraph(model, { batch, numClasses: K, inputSize: size, trainable: () => true });
  const p = initParams(g.params, seed);
  const r = new Random(seed + 1);
  for (const [name, t] of p) {
    const d = t.data as Float32Array;
    if (name.endsWith('running_mean')) d.forEach((_, i) => (d[i] = r.uniform(-0.2, 0.2)));
    if (name.endsWith('running_var')) d.forEach((_, i) => (d[i] = r.uniform(0.5, 2)));
    if (!name.startsWith('fc') && name.endsWith('.weight') && d.length === g.params.find((q) => q.name === name)!.shape[0]) d.forEach((_, i) => (d[i] = r.uniform(0.8, 1.2)));
    if (!name.startsWith('fc') && name.endsWith('.bias')) d.forEach((_, i) => (d[i] = r.uniform(shift[0], shift[1])));
  }
  return p;
}

/**
 * relError, except for a BatchNorm shift: its gradient sum(dy) is measured against the scale of the same
 * layer's scale gradient sum(dy * xhat) too. Where the BatchNorm feeds a 1x1 convolution into a
 * batch-statistics BatchNorm with nothing else in between (EfficientNet's first block: no residual),
 * sum(dy) is 0 in exact arithmetic, and what both engines print is float32 cancellation noise of that
 * scale (8e-4 of a near-zero reference was seen, with every other gradient within 3e-5).
 */
function gradError(name: string, ours: Float32Array, ref: Float32Array, refs: ReadonlyMap<string, Float32Array>): number {
  const e = relError(ours, ref);
  const scaleGrad = name.endsWith('.bias') ? refs.get(name.replace(/\.bias$/, '.weight')) : undefined;
  if (!scaleGrad || scaleGrad.length !== ref.length) return e;
  const max = (v: Float32Array) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  return (e * Math.max(max(ref), 1e-3)) / Math.max(max(ref), max(scaleGrad), 1e-3);
}

const copy = (p: NamedTensors): NamedTensors => new Map([...p].map(([n, t]) => [n, { ...t, data: (t.data as Float32Array).slice() }]));

function sgd(p: NamedTensors, grads: Map<string, Float32Array>, lr: number): void {
  for (const [n, g] of grads) {
    const d = p.get(n)!.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] -= lr * g[i];
  }
}

function images(batch: number, size: number, seed: number): Float32Array {
  const r = new Random(seed);
  return new Float32Array(batch * 3 * size * size).map(() => r.uniform(-2, 2));
}

interface Case {
  name: string;
  /** Default: resnet18. */
  model?: ModelSpec;
  /** The range BatchNorm shifts are drawn from (default [0.7, 1.3]). */
  bnShift?: [number, number];
  batch: number;
  size: number;
  trainable: (name: string) => boolean;
  freezeBn?: boolean;
  bnMomentum?: number;
  labelSmoothing?: number;
  classWeights?: number[];
  steps: number;
  seed: number;
  /** SGD's learning rate (BatchNorm in inference mode does not renormalise: a smaller one). */
  lr?: number;
  /** This case's tolerance (default TOL). */
  tol?: number;
  /** Stochastic depth's rate (default: the model's). */
  stochasticDepth?: number;
}

async function compare(c: Case): Promise<void> {
  const { batch: B, size: S } = c;
  const TOL = c.tol ?? TOL_DEFAULT;
  const spec = c.model ?? resnet18;
  const onnxParams = params(B, S, c.seed, spec, c.bnShift);
  const nativeParams = copy(onnxParams);
  const o = { batch: B, numClasses: K, inputSize: S, trainable: c.trainable, freezeBn: c.freezeBn, bnMomentum: c.bnMomentum, stochasticDepth: c.stochasticDepth };
  const graph = buildTrainingGraph(spec, o);
  const onnx = await TrainingSession.create(graph, onnxParams, { threads: 1 });
  const native = NativeTrainingSession.create(spec, { ...o, threads: 1 }, nativeParams);
  if ('unsupported' in native) assert.fail(`${spec.name} should be supported: ${native.unsupported}`);
  assert.deepEqual([...native.trainable].sort(), [...graph.trainable].sort(), 'the same parameters train');
  assert.deepEqual([...native.running].sort(), [...graph.running].sort(), 'the same running statistics update');
  for (let step = 0; step < c.steps; step++) {
    const x = images(B, S, 100 * c.seed + step);
    const labels = Array.from({ length: B }, (_, i) => (i * 2 + step) % K);
    const coeffs = crossEntropyCoefficients(labels, K, { labelSmoothing: c.labelSmoothing, classWeights: c.classWeights });
    // The same keyed source on both sides: the same dropout mask (networks with dropout).
    const a = await onnx.step(x, coeffs, keyedRandom(c.seed, step));
    const b: StepResult = await native.step(x, coeffs, keyedRandom(c.seed, step));
    const where = `${c.name}, step ${step + 1}`;
    assert.ok(Math.abs(a.loss - b.loss) <= TOL * Math.abs(a.loss), `${where}: loss ${b.loss} vs ONNX ${a.loss}`);
    assert.ok(relError(b.logits, a.logits) <= TOL, `${where}: logits differ by ${relError(b.logits, a.logits)}`);
    assert.equal(b.grads.size, a.grads.size, `${where}: gradient count`);
    for (const [name, ga] of a.grads) {
      const gb = b.grads.get(name);
      assert.ok(gb, `${where}: no native gradient for ${name}`);
      const e = gradError(name, gb, ga, a.grads);
      if (process.env.NATIVE_SHOW) console.log(where, name, e.toExponential(2)); // NATIVE_SHOW=1: every gradient's error
      assert.ok(e <= TOL, `${where}: gradient of ${name} differs by ${e.toExponential(2)} (tolerance ${TOL})`);
    }
    for (const name of graph.running) {
      const e = relError(nativeParams.get(name)!.data as Float32Array, onnxParams.get(name)!.data as Float32Array);
      assert.ok(e <= TOL, `${where}: running statistic ${name} differs by ${e.toExponential(2)}`);
    }
    sgd(onnxParams, a.grads, c.lr ?? 0.05);
    sgd(nativeParams, b.grads, c.lr ?? 0.05);
  }
  // Eval mode after the steps: BatchNorm on the running statistics both engines accumulated.
  const evalGraph = buildInferenceGraph(spec, { batch: B, numClasses: K, inputSize: S });
  const evalSession = await Session.create(evalGraph.bytes, { threads: 1 });
  const x = images(B, S, 7);
  const feeds = Object.fromEntries(evalGraph.fed.map((n) => [n, onnxParams.get(n)!]));
  const ref = (await evalSession.run({ ...feeds, [IO.images]: { dtype: 'float32', shape: [B, 3, S, S], data: x } }, [IO.logits]))[IO.logits].data as Float32Array;
  const nativeEval = NativeEvalSession.create(spec, { batch: B, numClasses: K, inputSize: S }, nativeParams);
  if ('unsupported' in nativeEval) assert.fail(nativeEval.unsupported);
  const logits = await nativeEval.run(x);
  assert.ok(ref.every(Number.isFinite), `${c.name}: the reference's eval logits are finite`);
  assert.ok(relError(logits, ref) <= TOL, `${c.name}: eval-mode logits differ by ${relError(logits, ref)}`);
  await onnx.release();
  await evalSession.release();
}

test('native step = ONNX step on ResNet18: loss, logits, every gradient, running statistics over 3 SGD steps, eval logits', { skip }, async () => {
  await compare({ name: 'resnet18 64px b4', batch: 4, size: 64, trainable: () => true, steps: 3, seed: 3, labelSmoothing: 0.1, classWeights: [1, 2, 0.5, 1, 1.5] });
});

test('native step with frozen stages and --freeze-bn: the same trainable set, BatchNorm in inference mode', { skip }, async () => {
  const trainable = (n: string) => n.startsWith('layer4') || n.startsWith('fc');
  await compare({ name: 'resnet18 layer4+fc', batch: 4, size: 64, trainable, steps: 2, seed: 5, bnMomentum: 0.3 });
  await compare({ name: 'resnet18 freeze-bn', batch: 4, size: 64, trainable: () => true, freezeBn: true, steps: 2, seed: 6, lr: 0.002 });
});

test('native step = ONNX step on MobileNetV2 (depthwise convs, ReLU6, residual Add, head dropout with the same mask): 2 SGD steps, eval logits', { skip }, async () => {
  // 3e-4: since the native engine sums BatchNorm statistics in double (native/bn-stats.h) and the ONNX
  // engine in float, step 2's features.1.conv.2.bias gradient differs by 2.1e-4 (with float sums on
  // both sides this case passed at 2e-4); the float64 checks below hold the native step to the ONNX tolerance.
  await compare({ name: 'mobilenet_v2 64px b4', model: getModel('mobilenet_v2'), batch: 4, size: 64, trainable: () => true, steps: 2, seed: 11, labelSmoothing: 0.1, bnShift: [1.7, 2.3], tol: 3e-4 });
  // The Keras twin: its ZeroPadding2D (a Pad op) folded into the stride-2 depthwise convs' pads.
  await compare({ name: 'mobilenet_v2_offline 64px b2', model: getModel('mobilenet_v2_offline'), batch: 2, size: 64, trainable: () => true, steps: 2, seed: 12, bnShift: [1.7, 2.3] });
});

test(
  'native step = ONNX step on EfficientNet-B0 and MobileNetV3-Large (SiLU, Sigmoid, HardSwish, HardSigmoid, squeeze-excitation, conv bias, a linear layer inside the features): 2 SGD steps, eval logits',
  { skip },
  async () => {
    await compare({ name: 'efficientnet_b0 64px b4', model: getModel('efficientnet_b0'), batch: 4, size: 64, trainable: () => true, steps: 2, seed: 21, labelSmoothing: 0.1 });
    await compare({ name: 'mobilenet_v3_large 64px b4', model: getModel('mobilenet_v3_large'), batch: 4, size: 64, trainable: () => true, steps: 2, seed: 22 });
  },
);

test('native step = ONNX step on EfficientNet-B0 with stochastic depth (row masks from the same keyed source), 2 SGD steps, eval logits; from stage 6 on, the same masks', { skip }, async () => {
  const model = getModel('efficientnet_b0');
  // Rate 0.9 (p up to 0.79): some branches are dropped in these 2 steps, not only scaled.
  const c = { batch: 4, size: 64, steps: 2, seed: 23, stochasticDepth: 0.9 };
  const graph = buildTrainingGraph(model, { batch: c.batch, numClasses: K, inputSize: c.size, trainable: () => true, stochasticDepth: c.stochasticDepth });
  let drops = 0;
  for (let step = 0; step < c.steps; step++) {
    const random = keyedRandom(c.seed, step);
    for (const m of graph.masks) {
      const v = fillDropoutMask(new Float32Array(m.shape.reduce((a, b) => a * b, 1)), m.ratio, random);
      if (m.name.startsWith('stochastic_depth:')) drops += v.filter((e) => e === 0).length;
    }
  }
  assert.ok(drops > 0, 'some residual branches are dropped');
  await compare({ ...c, name: 'efficientnet_b0 stochastic depth 0.9', model, trainable: () => true });
  // --unfreeze-last: the native plan takes row masks for the trained blocks only (features.6.*), the ONNX graph's,
  // in its order. (A numerical comparison of this partial step is ill-conditioned at random init: the first trained
  // conv, its input from frozen eval-mode stages, differs by 1.6e-3 with stochastic depth 0 as well.)
  const trainable = (n: string) => /^(features\.[678]|classifier)/.test(n);
  const partial = buildTrainingGraph(model, { batch: c.batch, numClasses: K, inputSize: c.size, trainable, stochasticDepth: c.stochasticDepth });
  const net = compileNativeNetwork(model, { batch: c.batch, numClasses: K, inputSize: c.size, mode: 'train', trainable, stochasticDepth: c.stochasticDepth });
  if ('unsupported' in net) assert.fail(net.unsupported);
  const rows = partial.masks.filter((m) => m.name.startsWith('stochastic_depth:')).map((m) => ({ name: m.name, ratio: m.ratio }));
  assert.deepEqual(
    rows.map((m) => m.name),
    ['stochastic_depth:features.6.1', 'stochastic_depth:features.6.2', 'stochastic_depth:features.6.3'],
  );
  assert.deepEqual(net.rowMasks, rows);
});

test('native step with dropout: the mask comes from the random source (none given: a coded error)', { skip }, async () => {
  const model = getModel('mobilenet_v2');
  const p = params(2, 32, 13, model);
  const s = NativeTrainingSession.create(model, { batch: 2, numClasses: K, inputSize: 32, trainable: (n) => n.startsWith('classifier') }, p);
  if ('unsupported' in s) assert.fail(s.unsupported);
  const x = images(2, 32, 14);
  const coeffs = crossEntropyCoefficients([0, 1], K);
  await assert.rejects(s.step(x, coeffs), (err: unknown) => err instanceof EngineError && err.code === 'E_BAD_ARGUMENT' && /dropout/.test(err.message));
  const loss = async (seed: number) => (await s.step(x, coeffs, keyedRandom(seed))).loss;
  const l1 = await loss(1);
  assert.equal(await loss(1), l1, 'the same source: the same mask, the same loss');
  assert.notEqual(await loss(2), l1, 'another source: another mask');
  await s.release();
});

test('native engine: an op it lacks gives `unsupported` naming it; bad buffers give a coded error', { skip }, async () => {
  // A tiny network whose features end in `tail`: AveragePool and a Mul that is neither SiLU nor squeeze-excitation are not native.
  const tiny = (tail: (b: NetBuilder, x: string) => string): ModelSpec => ({
    ...spec,
    name: 'tiny',
    featureDim: 4,
    features: (b, images) => b.g.op('Flatten', [b.g.op('GlobalAveragePool', [tail(b, b.conv2d(images, 'conv', 4, { kernel: 3, padding: 1 }))])], { axis: 1 }),
  });
  const lowered = (tail: (b: NetBuilder, x: string) => string) => compileNativeNetwork(tiny(tail), { batch: 2, numClasses: K, inputSize: 8, mode: 'train', trainable: () => true });
  const pool = lowered((b, x) => b.g.op('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2] }));
  assert.ok('unsupported' in pool && /^AveragePool \(the native engine runs .*HardSwish/.test(pool.unsupported), JSON.stringify(pool));
  const mul = lowered((b, x) => b.g.op('Mul', [x, b.relu(x)]));
  assert.ok('unsupported' in mul && /^Mul `.*`: only x \* Sigmoid\(x\) \(SiLU\) and the squeeze-excitation form .* found \[2,4,8,8\] \* \[2,4,8,8\]/.test(mul.unsupported), JSON.stringify(mul));
  // Every zoo model lowers now (ResNets, MobileNetV2 and its Keras twin, EfficientNet-B0, MobileNetV3-Large).
  for (const model of listModels()) {
    const name = model.name;
    const n = compileNativeNetwork(model, { batch: 2, numClasses: K, inputSize: 64, mode: 'train', trainable: () => true });
    assert.ok(!('unsupported' in n), `${name}: ${'unsupported' in n ? n.unsupported : ''}`);
  }
  const p = params(2, 32, 1);
  const s = NativeTrainingSession.create(spec, { batch: 2, numClasses: K, inputSize: 32, trainable: () => true }, p);
  if ('unsupported' in s) assert.fail(s.unsupported);
  await assert.rejects(
    s.step(new Float32Array(10), crossEntropyCoefficients([0, 1], K)),
    (err: unknown) => err instanceof EngineError && err.code === 'E_SHAPE_MISMATCH' && /images: expected 6144 values, found 10/.test(err.message),
  );
  await s.release();
  await assert.rejects(s.step(new Float32Array(6144), crossEntropyCoefficients([0, 1], K)), (err: unknown) => err instanceof EngineError && /released/.test(err.message));
});

/**
 * Against torchvision (scripts/models_reference.py, as test/models-parity.test.ts uses it for the ONNX
 * engine): ResNet18, MobileNetV2, EfficientNet-B0 and MobileNetV3-Large (ResNet34 passes too; left out for time;
 * the two new ones cost ~40 s of torch CPU, mostly EfficientNet's float64 step), random weights saved by torch, 64x64, batch 2. Eval logits within 1e-4
 * of torch fp32; one train-mode step's loss, sampled gradients and running statistics within
 * max(1e-4, 5 x torch fp32's own error) of torch float64 (torch's own: that tensor's, or the median
 * over the sampled tensors if larger), the ONNX engine's tolerance.
 */
const torchCheck = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const noTorch = torchCheck.status === 0 ? false : 'needs Debian python3-torch and python3-torchvision at /usr/bin/python3';

interface ModelRef {
  name: string;
  labels: number[];
  loss64: number;
  grads: string[];
  running: string[];
  torch32: { logits_eval: number; loss: number; grads: Record<string, number>; running: Record<string, number> };
}

test('native step and native eval = torchvision (ResNet18, MobileNetV2, EfficientNet-B0, MobileNetV3-Large) within the ONNX engine parity tolerance', { skip: skip || noTorch }, async () => {
  const SIZE = 64;
  const BATCH = 2;
  const CLASSES = 5;
  const names = ['resnet18', 'mobilenet_v2', 'efficientnet_b0', 'mobilenet_v3_large'];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'headstart-native-parity-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const run = spawnSync('/usr/bin/python3', ['scripts/models_reference.py', dir, `${SIZE}`, `${BATCH}`, `${CLASSES}`, '0', ...names], { encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, `scripts/models_reference.py failed: ${run.stderr}`);
  const refs = new Map((JSON.parse(run.stdout).models as ModelRef[]).map((m) => [m.name, m]));
  const allowed = (torch32: number) => Math.max(1e-4, 5 * torch32);
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? 0;
  for (const name of names) {
    const model = getModel(name);
    const ref = refs.get(name)!;
    const reference = await loadSafetensors(path.join(dir, `${name}.ref.safetensors`));
    const x = reference.get('input')!.data as Float32Array;
    const expected = new Map(buildInferenceGraph(model, { batch: BATCH, numClasses: CLASSES, inputSize: SIZE }).params.map((p) => [p.name, p.shape]));
    const state = matchStateDict(expected, await loadSafetensors(path.join(dir, `${name}.state.safetensors`)), { strict: true }).tensors;
    const evalSession = NativeEvalSession.create(model, { batch: BATCH, numClasses: CLASSES, inputSize: SIZE, threads: 2 }, state);
    if ('unsupported' in evalSession) assert.fail(evalSession.unsupported);
    const logits = await evalSession.run(x);
    const ref32 = reference.get('logits_eval32')!.data as Float32Array;
    let evalDiff = 0;
    for (let i = 0; i < ref32.length; i++) evalDiff = Math.max(evalDiff, Math.abs(logits[i] - ref32[i]));
    assert.ok(evalDiff <= 1e-4, `${name}: eval logits differ from torch fp32 by ${evalDiff.toExponential(2)}`);

    const params = copy(matchStateDict(expected, await loadSafetensors(path.join(dir, `${name}.train-state.safetensors`)), { strict: true }).tensors);
    // The reference's train step has dropout and stochastic depth off (random masks), as test/models-parity.test.ts.
    const trainModel = { ...model, head: { ...model.head, dropout: 0 }, stochasticDepth: 0 };
    const session = NativeTrainingSession.create(trainModel, { batch: BATCH, numClasses: CLASSES, inputSize: SIZE, trainable: () => true, threads: 2 }, params);
    if ('unsupported' in session) assert.fail(session.unsupported);
    const step: StepResult = await session.step(x, crossEntropyCoefficients(ref.labels, CLASSES));
    const failures: string[] = [];
    const check = (what: string, err: number, torch32: number) => {
      if (!(err <= allowed(torch32))) failures.push(`${name} ${what}: relative error ${err.toExponential(2)} > ${allowed(torch32).toExponential(2)} (torch fp32: ${torch32.toExponential(2)})`);
    };
    check('loss', Math.abs(step.loss - ref.loss64) / Math.abs(ref.loss64), ref.torch32.loss);
    const gradNoise = median(Object.values(ref.torch32.grads));
    for (const g of ref.grads) check(`grad ${g}`, relError(step.grads.get(g)!, reference.get(`grad64:${g}`)!.data as Float32Array), Math.max(ref.torch32.grads[g], gradNoise));
    const runningNoise = median(Object.values(ref.torch32.running));
    for (const r of ref.running)
      check(`${r} after the step`, relError(params.get(r)!.data as Float32Array, reference.get(`running64:${r}`)!.data as Float32Array), Math.max(ref.torch32.running[r], runningNoise));
    assert.deepEqual(failures, []);
  }
});
