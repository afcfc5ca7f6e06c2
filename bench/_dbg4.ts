import ort from 'onnxruntime-node';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random } from '../src/random.js';
const size = Number(process.env.SIZE ?? 32);
const name = process.env.MODEL ?? 'mobilenet_v2';
const spec = { ...getModel(name), head: { ...getModel(name).head, dropout: 0 } };
const opts = { batch: 2, numClasses: 3, inputSize: size, trainable: () => true };
const rng = new Random(1);
const images = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal());
const targets = crossEntropyCoefficients([0, 2], 3);
const plain = buildTrainingGraph(spec, opts);
const blocked = buildTrainingGraph(spec, { ...opts, blocked: { block: 16, minSize: 32 } });
const init = initParams(plain.params, 0);
const feeds: Record<string, ort.Tensor> = { images: new ort.Tensor('float32', images, [2, 3, size, size]), targets: new ort.Tensor('float32', targets, [2, 3]) };
for (const p of plain.params) if (plain.fed.includes(p.name)) feeds[p.name] = new ort.Tensor('float32', (init.get(p.name)!.data as Float32Array).slice(), p.shape);
for (const level of ['disabled', 'basic', 'extended', 'all'] as const) {
  for (const [label, g] of [['plain', plain], ['blocked', blocked]] as const) {
    const s = await ort.InferenceSession.create(g.bytes, { intraOpNumThreads: 1, graphOptimizationLevel: level, logSeverityLevel: 3 , ...(process.env.DUMP ? { optimizedModelFilePath: `/tmp/opt_${label}_${level}.onnx` } : {}) });
    const r = await s.run(feeds);
    const f = r['grad:features.0.0.weight'].data as Float32Array;
    console.log(level, label, (r.loss.data as Float32Array)[0], f[0], f[1], f[100]);
  }
}
