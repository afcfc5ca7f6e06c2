/**
 * End to end: train on a generated dataset in both modes for 2 epochs, then use the exported
 * model.onnx in plain onnxruntime-node (and through predict/evaluate): it must reproduce the
 * trainer's own val accuracy.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { buildEvalTransform } from '../src/data/build-transforms.js';
import { readImageBytes } from '../src/data/decode.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { keyedRandom } from '../src/random.js';
import { evaluate } from '../src/infer/evaluate.js';
import { readClassifier } from '../src/infer/model-file.js';
import { predict } from '../src/infer/predict.js';
import type { TrainEventName } from '../src/train/events.js';
import { historyFromJson } from '../src/metrics/history.js';
import { train } from '../src/train/train.js';
import { COLOURS, makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

const FILES = ['model.onnx', 'history.json', 'history.csv', 'curves.svg', 'curves.png', 'confusion.svg', 'report.html', 'config.json', 'classes.json', 'checkpoint.bin', 'best.safetensors'];

for (const mode of ['finetune', 'features'] as const) {
  test(`train --mode ${mode}: 2 epochs, all outputs, model.onnx reproduces the val accuracy in plain onnxruntime-node`, async () => {
    const root = await makeColourDataset({ train: 10, val: 4 });
    const out = await tempDir();
    const events: TrainEventName[] = [];
    const counter = Object.fromEntries(
      (['run_start', 'epoch_start', 'phase_start', 'batch_end', 'phase_end', 'epoch_end', 'best', 'checkpoint', 'done'] as const).map((n) => [n, () => void events.push(n)]),
    );
    const r = await train(root, { model: tinySpec, weights: 'none', mode, epochs: 2, lr: 0.05, threads: 1, out, cacheDir: await tempDir('cache-') }, { listeners: [counter] });

    assert.equal(r.mode, mode);
    assert.equal(r.interrupted, false);
    assert.deepEqual(r.classes, [...COLOURS]);
    assert.equal(r.history.epochs.length, 2);
    for (const f of FILES) assert.ok(existsSync(join(out, f)), `${f} is missing from ${out}`);
    assert.ok(r.bestValAcc >= 0.75, `best val accuracy ${r.bestValAcc} on an easy task`);
    // Events in order: run_start first, done last, two epochs with a train and a val phase each.
    assert.equal(events[0], 'run_start');
    assert.equal(events.at(-1), 'done');
    assert.equal(events.filter((e) => e === 'epoch_end').length, 2);
    assert.equal(events.filter((e) => e === 'checkpoint').length, 2);
    assert.ok(events.filter((e) => e === 'phase_end').length >= 4);

    const history = historyFromJson(readFileSync(join(out, 'history.json'), 'utf8'));
    assert.equal(history.epochs.length, 2);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(config.mode, mode);
    assert.equal(config.epochs, 2);
    assert.match(config.data.sha256, /^[0-9a-f]{64}$/);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'classes.json'), 'utf8')), [...COLOURS]);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Final validation metrics/);

    // model.onnx: plain onnxruntime-node, our eval transform, metadata read back.
    const file = await readClassifier(join(out, 'model.onnx'));
    assert.deepEqual(file.metadata.classes, [...COLOURS]);
    assert.equal(file.metadata.mode, mode);
    assert.equal(file.metadata.bestValAcc, r.bestValAcc);
    const session = await ort.InferenceSession.create(join(out, 'model.onnx'), { intraOpNumThreads: 1 });
    const folder = await scanImageFolder(root);
    const transform = buildEvalTransform(file.metadata.preprocess);
    const per = transform.tensorLength;
    const images = new Float32Array(folder.val.length * per);
    for (let i = 0; i < folder.val.length; i++) await transform.run(await readImageBytes(folder.val[i].path), keyedRandom(0, i), images, i * per);
    const s = file.metadata.preprocess.inputSize;
    const res = await session.run({ images: new ort.Tensor('float32', images, [folder.val.length, 3, s, s]) });
    const logits = res.logits.data as Float32Array;
    let correct = 0;
    folder.val.forEach((sample, i) => {
      const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
      if (row.indexOf(Math.max(...row)) === sample.label) correct++;
    });
    assert.equal(correct / folder.val.length, r.bestValAcc, 'the exported model scores what the trainer measured for its best epoch');
    await session.release();

    // The inference API on the same file.
    const evaluated = await evaluate(join(out, 'model.onnx'), root, { threads: 1 });
    assert.equal(evaluated.metrics.accuracy.estimate, r.bestValAcc);
    const predicted = await predict(join(out, 'model.onnx'), join(root, 'val', 'red'), { threads: 1 });
    assert.equal(predicted.predictions.length, 4);
    assert.ok(predicted.predictions.every((p) => COLOURS.includes(p.top[0].label as (typeof COLOURS)[number])));
  });
}
