/**
 * The val phase on the native engine (src/train/finetune-runner.ts, src/train/train-engine.ts):
 * NativeEvalSession's eval-mode logits against ONNX Runtime's eval session for the same parameters and
 * batch (ResNet18 and MobileNetV2, non-trivial BatchNorm running statistics, a full and a partial
 * batch); then a short fine-tune through the runner on the native engine, after which the val phase of a
 * native-engine runner and of an ONNX-engine runner over the same live weights must agree (loss, logits,
 * accuracy). Tolerance: 1e-4 relative to the logits' scale (float32 with different summation orders;
 * seen here ~1e-6 to 1e-5). Skipped where the addon is not built (`npm run build:native`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { Session } from '../src/engine/session.js';
import { nativePlanUnavailable } from '../src/engine/native-plan.js';
import { loadInitialParams } from '../src/graphs/initial-params.js';
import { NativeEvalSession } from '../src/graphs/native-training-session.js';
import { buildInferenceGraph, IO } from '../src/graphs/network-graph.js';
import { getModel } from '../src/models/registry.js';
import { trainableFilter } from '../src/models/trainable.js';
import { Random } from '../src/random.js';
import { createFinetuneRunner } from '../src/train/finetune-runner.js';
import type { EvalStepResult, ModeRunner } from '../src/train/mode-runner.js';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import { perturbBatchNorm } from './perturb-batch-norm.js';
import { relError } from './rel-error.js';
import { makeColourDataset } from './train-fixtures.js';

const skip = nativePlanUnavailable() ?? false;
const TOL = 1e-4;
const K = 3;

for (const [model, size] of [
  ['resnet18', 64],
  ['mobilenet_v2', 64],
] as const) {
  test(`native eval logits = ONNX Runtime eval logits (${model}, ${size} px, a full and a partial batch)`, { skip }, async () => {
    const spec = getModel(model);
    const { params } = await loadInitialParams(spec, { weights: 'none', numClasses: K, inputSize: size, seed: 4 });
    perturbBatchNorm(params, 5);
    const graph = buildInferenceGraph(spec, { batch: -1, numClasses: K, inputSize: size });
    const onnx = await Session.create(graph.bytes, { threads: 1 });
    const feeds = Object.fromEntries(graph.fed.map((n) => [n, params.get(n)!]));
    try {
      for (const batch of [4, 3]) {
        const r = new Random(batch);
        const x = Float32Array.from({ length: batch * 3 * size * size }, () => r.uniform(-2, 2));
        const ref = (await onnx.run({ ...feeds, [IO.images]: { dtype: 'float32', shape: [batch, 3, size, size], data: x } }, [IO.logits]))[IO.logits].data as Float32Array;
        const native = NativeEvalSession.create(spec, { batch, numClasses: K, inputSize: size, threads: 2 }, params);
        if ('unsupported' in native) assert.fail(`${model}: ${native.unsupported}`);
        try {
          const logits = await native.run(x);
          assert.ok(ref.every(Number.isFinite) && Math.max(...ref.map(Math.abs)) > 1e-2, `${model}: the reference logits are finite and not all ~0`);
          const e = relError(logits, ref);
          if (process.env.SHOW_ERRORS) console.log({ model, batch, e });
          assert.ok(e <= TOL, `${model} batch ${batch}: eval logits differ by ${e.toExponential(2)} relative (tolerance ${TOL})`);
        } finally {
          await native.release();
        }
      }
    } finally {
      await onnx.release();
    }
  });
}

async function valPhase(runner: ModeRunner): Promise<{ loss: number; correct: number; logits: number[] }> {
  let loss = 0;
  let correct = 0;
  const logits: number[] = [];
  for await (const batch of runner.valBatches()) {
    const r: EvalStepResult = await runner.evalStep(batch);
    const n = batch.labels.length;
    loss += r.loss * n;
    for (let i = 0; i < n; i++) {
      const row = [...r.logits.subarray(i * K, (i + 1) * K)];
      if (row.indexOf(Math.max(...row)) === batch.labels[i]) correct++;
      logits.push(...row);
    }
    batch.release();
  }
  return { loss, correct, logits };
}

test('a short native fine-tune: its val phase on the native engine = the ONNX val phase on the same weights (loss, logits, accuracy)', { skip }, async () => {
  const spec = getModel('resnet18');
  const size = 32;
  const root = await makeColourDataset({ train: 4, val: 6, size: 40 }); // 18 val images: a batch of 16, then 2 zero-padded through the same plan;
  const folder = await scanImageFolder(root);
  const { params } = await loadInitialParams(spec, { weights: 'none', numClasses: K, inputSize: size, seed: 2 });
  perturbBatchNorm(params, 3);
  const pre = { ...spec.preprocess, inputSize: size, resizeSize: 36 };
  const runnerFor = (engine: 'native' | 'onnx') =>
    createFinetuneRunner({
      spec,
      params,
      numClasses: K,
      inputSize: size,
      train: folder.train,
      val: folder.val,
      trainTransform: buildTrainTransform(pre),
      evalTransform: buildEvalTransform(pre),
      config: resolveTrainConfig(parseTrainOptions({ weights: 'none', epochs: 1, batchSize: 4, lr: 0.002, seed: 1, engine, threads: 1 }), 'finetune', spec.name, 'none'),
      trainable: trainableFilter(spec, { mode: 'finetune' }),
      session: { threads: 1 },
      onSkip: () => {},
    });
  const native = await runnerFor('native');
  const onnx = await runnerFor('onnx');
  try {
    assert.deepEqual([native.engine?.engine, native.engine?.val], ['native', 'native'], native.engine?.note);
    assert.deepEqual([onnx.engine?.engine, onnx.engine?.val], ['onnx', 'onnx']);
    assert.equal(native.valBatchCount, 2, 'native val batches: 16, then 2 zero-padded through the same plan');
    const before = await valPhase(native);
    // Train a few native steps (the weights and running statistics move, in place, for both runners).
    let index = 0;
    for await (const batch of native.trainBatches(0)) {
      const r = await native.trainStep(batch, 0, index++);
      native.optimizer.step(r.grads);
      batch.release();
    }
    assert.ok(index >= 3, `trained ${index} batches`);
    const a = await valPhase(native);
    const b = await valPhase(onnx);
    assert.equal(a.logits.length, folder.val.length * K);
    const moved = relError(before.logits, b.logits);
    assert.ok(moved > 100 * TOL, `training moved the val logits (by ${moved.toExponential(2)}): the val phase reads the live weights`);
    const e = relError(a.logits, b.logits);
    if (process.env.SHOW_ERRORS) console.log({ moved, e, loss: [a.loss, b.loss], correct: [a.correct, b.correct] });
    assert.ok(e <= TOL, `val logits differ by ${e.toExponential(2)} relative (tolerance ${TOL})`);
    assert.ok(Math.abs(a.loss - b.loss) / Math.max(Math.abs(b.loss), 1e-3) <= TOL, `val loss ${a.loss} (native) vs ${b.loss} (ONNX)`);
    assert.equal(a.correct, b.correct, 'val accuracy');
  } finally {
    await native.release();
    await onnx.release();
  }
});
