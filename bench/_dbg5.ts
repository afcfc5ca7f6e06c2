import ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { parseModel } from '../src/onnx/serialize.js';
import { Random } from '../src/random.js';
const size = 32;
const spec = { ...getModel('mobilenet_v2'), head: { ...getModel('mobilenet_v2').head, dropout: 0 } };
const opts = { batch: 2, numClasses: 3, inputSize: size, trainable: () => true };
const rng = new Random(1);
const images = Float32Array.from({ length: 2 * 3 * size * size }, () => rng.normal());
const targets = crossEntropyCoefficients([0, 2], 3);
const plain = buildTrainingGraph(spec, opts);
const blocked = buildTrainingGraph(spec, { ...opts, blocked: { block: 16, minSize: 32 } });
const init = initParams(plain.params, 0);
const feeds: Record<string, ort.Tensor> = { images: new ort.Tensor('float32', images, [2, 3, size, size]), targets: new ort.Tensor('float32', targets, [2, 3]) };
for (const p of plain.params) if (plain.fed.includes(p.name)) feeds[p.name] = new ort.Tensor('float32', (init.get(p.name)!.data as Float32Array).slice(), p.shape);
const watch = (process.env.WATCH ?? 'features.0.0_out').split(',');
const res: Float32Array[][] = [];
for (const g of [plain, blocked]) {
  const m = parseModel(g.bytes).model;
  for (const w of watch) m.graph!.output!.push({ name: w, type: { tensorType: { elemType: 1 } } });
  const bytes = onnxProto.onnx.ModelProto.encode(m).finish();
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
  const r = await s.run(feeds);
  res.push(watch.map((w) => r[w].data as Float32Array));
}
watch.forEach((w, k) => {
  const a = res[0][k], b = res[1][k];
  let d = 0, sc = 0, at = -1;
  for (let i = 0; i < a.length; i++) { const e = Math.abs(a[i] - b[i]); if (e > d) { d = e; at = i; } sc = Math.max(sc, Math.abs(a[i])); }
  console.log(w, a.length, 'maxdiff', d, 'at', at, 'scale', sc);
});
