import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random } from '../src/random.js';
const name = process.env.MODEL ?? 'mobilenet_v2';
const size = Number(process.env.SIZE ?? 32);
const spec = { ...getModel(name), head: { ...getModel(name).head, dropout: 0 } };
const opts = { batch: 2, numClasses: 3, inputSize: size, trainable: () => true };
const rng = new Random(1);
const images = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal());
const targets = crossEntropyCoefficients([0, 2], 3);
const plain = buildTrainingGraph(spec, opts);
const init = initParams(plain.params, 0);
for (const min of (process.env.MINS ?? "0,32,16,8,4,2,1").split(",").map(Number)) {
  const g = min === 0 ? plain : buildTrainingGraph(spec, { ...opts, blocked: { block: 16, minSize: min } });
  const params = new Map([...init].map(([k, t]) => [k, { ...t, data: (t.data as Float32Array).slice() }]));
  const s = await TrainingSession.create(g, params, { threads: 1 });
  const r = await s.step(images, targets);
  console.log(min, r.loss);
}
