import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Session } from '../src/engine/session.js';
import { Graph } from '../src/onnx/graph.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { buildKerasLayers, kerasParams } from '../src/models/keras-import.js';
import { NetBuilder } from '../src/models/net-builder.js';
import { loadNsfwjsMobileNetV2, NSFWJS_MOBILENET_V2 } from '../src/weights/nsfwjs-mobilenet-v2.js';
import { Random } from '../src/random.js';
import { permute } from '../src/tensor.js';

// The reference is TensorFlow.js itself (pure-JS CPU backend) running the same Keras model.
await tf.setBackend('cpu');

test('the imported nsfwjs MobileNetV2 reproduces TensorFlow.js (features and the full nsfw head) within 1e-4', async () => {
  const model = await loadNsfwjsMobileNetV2();
  const rng = new Random(7);
  const n = 2;
  const nhwc = Float32Array.from({ length: n * 224 * 224 * 3 }, () => rng.next());

  // TF.js: the Keras model from its own JSON and weights.
  const tfModel = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: model.topology as unknown as tf.io.ModelJSON['modelTopology'],
      weightSpecs: model.manifest.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' as const })),
      weightData: concatWeights(model),
    }),
  );
  const featureModel = tf.model({ inputs: tfModel.inputs, outputs: tfModel.getLayer(NSFWJS_MOBILENET_V2.featureLayer).output });
  const x = tf.tensor4d(nhwc, [n, 224, 224, 3]);
  const tfFeatures = (await (featureModel.predict(x) as tf.Tensor).data()) as Float32Array;
  const tfProbs = (await (tfModel.predict(x) as tf.Tensor).data()) as Float32Array;

  // headstart: NCHW graph built from the same layers.
  const g = new Graph();
  const images = g.input('images', 'float32', [n, 3, 224, 224]);
  const params = kerasParams(model.layers, model.weights);
  const b = new NetBuilder(g, { mode: 'eval', constants: params });
  const features = buildKerasLayers(b, model.layers, images, { until: NSFWJS_MOBILENET_V2.featureLayer });
  g.output(g.alias(features, 'features'));
  const b2 = new Graph();
  const images2 = b2.input('images', 'float32', [n, 3, 224, 224]);
  const probs = buildKerasLayers(new NetBuilder(b2, { mode: 'eval', constants: params }), model.layers, images2);
  b2.output(b2.alias(probs, 'probs'));
  const nchw = permute({ dtype: 'float32', shape: [n, 224, 224, 3], data: nhwc }, [0, 3, 1, 2]);
  const s1 = await Session.create(serializeModel(g), { threads: 2 });
  const s2 = await Session.create(serializeModel(b2), { threads: 2 });
  const ours = (await s1.run({ images: nchw })).features.data as Float32Array;
  const oursProbs = (await s2.run({ images: nchw })).probs.data as Float32Array;
  const maxDiff = (a: Float32Array, r: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - r[i])), 0);
  const scale = tfFeatures.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.equal(ours.length, tfFeatures.length);
  assert.ok(maxDiff(ours, tfFeatures) <= 1e-4 * Math.max(1, scale), `features differ by ${maxDiff(ours, tfFeatures)} (scale ${scale})`);
  assert.ok(maxDiff(oursProbs, tfProbs) <= 1e-4, `probabilities differ by ${maxDiff(oursProbs, tfProbs)}`);
});

function concatWeights(model: Awaited<ReturnType<typeof loadNsfwjsMobileNetV2>>): ArrayBuffer {
  const total = model.manifest.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
  const out = new Float32Array(total);
  let o = 0;
  for (const w of model.manifest) {
    const t = model.weights.get(w.name)!;
    out.set(t.data as Float32Array, o);
    o += t.data.length;
  }
  return out.buffer;
}
