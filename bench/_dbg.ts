import ort from 'onnxruntime-node';
import { blockConvs } from '../src/onnx/blocked-convs.js';
import { Graph } from '../src/onnx/graph.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
const cases: [string, number[], number[], Record<string, number[]>][] = [
  ['1x1 32->16', [2, 32, 8, 8], [16, 32, 1, 1], {}],
  ['1x1 16->96', [2, 16, 8, 8], [96, 16, 1, 1], {}],
  ['stem 3x3 s2', [2, 3, 32, 32], [32, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }],
  ['stem 3x3 s2 16x16', [2, 3, 16, 16], [32, 3, 3, 3], { strides: [2, 2], pads: [1, 1, 1, 1] }],
  ['3x3 s1 c3 -> 16 (dX of stem-like?)', [2, 3, 16, 16], [16, 3, 3, 3], { pads: [1, 1, 1, 1] }],
  ['1x1 c32 -> 16 at 1x1', [2, 32, 1, 1], [16, 32, 1, 1], {}],
  ['3x3 32->32 pad1', [2, 32, 4, 4], [32, 32, 3, 3], { pads: [1, 1, 1, 1] }],
  ['3x3 32->32 pad 2 dil', [2, 32, 4, 4], [32, 32, 3, 3], { pads: [2, 2, 2, 2] }],
];
for (const [label, xs, ws, attrs] of cases) {
  const build = () => {
    const g = new Graph();
    const x = g.input('x', 'float32', xs);
    const w = g.input('w', 'float32', ws);
    g.output(g.alias(g.op('Conv', [x, w], attrs), 'y'));
    return g;
  };
  const p = build();
  const b = build();
  const n = blockConvs(b, { block: 16, minSize: 1 });
  const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: xs.reduce((a, c) => a * c) }, () => Math.random() - 0.5), xs), w: new ort.Tensor('float32', Float32Array.from({ length: ws.reduce((a, c) => a * c) }, () => Math.random() - 0.5), ws) };
  const out = [];
  for (const g of [p, b]) {
    const s = await ort.InferenceSession.create(serializeModel(g), { intraOpNumThreads: 1, logSeverityLevel: 3 });
    out.push((await s.run(feeds)).y);
  }
  let d = 0;
  const a = out[0].data as Float32Array, c = out[1].data as Float32Array;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - c[i]));
  console.log(label, 'rewritten', n, out[0].dims, out[1].dims, 'maxdiff', d);
}
