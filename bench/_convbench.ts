import ort from 'onnxruntime-node';
import { Graph } from '/work/wt13/src/onnx/graph.js';
import '/work/wt13/src/onnx/ops/index.js';
import { serializeModel } from '/work/wt13/src/onnx/serialize.js';
const N = Number(process.env.N ?? 8), C = Number(process.env.C ?? 512), O = C, H = Number(process.env.H ?? 7);
function convGraph() {
  const g = new Graph();
  const x = g.input('x', 'float32', [N, C, H, H]);
  const w = g.input('w', 'float32', [O, C, 3, 3]);
  g.output(g.alias(g.op('Conv', [x, w], { pads: [1, 1, 1, 1], kernel_shape: [3, 3], strides: [1, 1] }), 'y'));
  return g;
}
function gemmGraph() {
  const g = new Graph();
  const x = g.input('x', 'float32', [N, C, H, H]);
  const w = g.input('w', 'float32', [O, C, 3, 3]);
  const p = g.op('Pad', [x, g.ints([0, 0, 1, 1, 0, 0, 1, 1])]);
  const sl: string[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) sl.push(g.op('Unsqueeze', [g.op('Slice', [p, g.ints([i, j]), g.ints([i + H, j + H]), g.ints([2, 3])]), g.ints([2])]));
  const col = g.op('Concat', sl, { axis: 2 }); // [N,C,9,H,H]
  const t = g.op('Transpose', [col], { perm: [1, 2, 0, 3, 4] }); // [C,9,N,H,H]
  const m = g.op('Reshape', [t, g.ints([C * 9, N * H * H])]);
  const w2 = g.op('Reshape', [w, g.ints([O, C * 9])]);
  const y = g.op('MatMul', [w2, m]); // [O, N*H*H]
  const y4 = g.op('Transpose', [g.op('Reshape', [y, g.ints([O, N, H, H])])], { perm: [1, 0, 2, 3] });
  g.output(g.alias(y4, 'y'));
  return g;
}
function constGraph(wv: Float32Array) {
  const g = new Graph();
  const x = g.input('x', 'float32', [N, C, H, H]);
  const w = g.initializer('w', { dtype: 'float32', shape: [O, C, 3, 3], data: wv });
  g.output(g.alias(g.op('Conv', [x, w], { pads: [1, 1, 1, 1], kernel_shape: [3, 3], strides: [1, 1] }), 'y'));
  return g;
}
const opts = { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, logSeverityLevel: 3 as const };
const a = await ort.InferenceSession.create(serializeModel(convGraph()), opts);
const b = await ort.InferenceSession.create(serializeModel(gemmGraph()), opts);
const x = new Float32Array(N * C * H * H).map(() => Math.random());
const w = new Float32Array(O * C * 9).map(() => Math.random() - 0.5);
const cc = await ort.InferenceSession.create(serializeModel(constGraph(w)), opts);
const feeds = { x: new ort.Tensor('float32', x, [N, C, H, H]), w: new ort.Tensor('float32', w, [O, C, 3, 3]) };
const ya = (await a.run(feeds)).y.data as Float32Array, yb = (await b.run(feeds)).y.data as Float32Array;
let err = 0; for (let i = 0; i < ya.length; i++) err = Math.max(err, Math.abs(ya[i] - yb[i])); console.log('max diff', err);
const t = { a: 0, b: 0, c: 0 };
for (let r = 0; r < 20; r++) for (const [k, s] of [['a', a], ['b', b], ['c', cc]] as const) { const c0 = process.cpuUsage(); await s.run(k === 'c' ? { x: feeds.x } : feeds); const c = process.cpuUsage(c0); t[k] += (c.user + c.system) / 1000; }
const gf = 2 * N * O * C * 9 * H * H / 1e9;
console.log(`N${N} C${C} H${H}: Conv ${(t.a / 20).toFixed(1)} cpu-ms (${(gf / (t.a / 20 / 1000)).toFixed(0)} GFLOP/cpu-s), im2col+MatMul ${(t.b / 20).toFixed(1)} cpu-ms (${(gf / (t.b / 20 / 1000)).toFixed(0)}), const-weight Conv ${(t.c / 20).toFixed(1)} (${(gf / (t.c / 20 / 1000)).toFixed(0)})`);
