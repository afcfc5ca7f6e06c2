import { readFileSync } from 'node:fs';
import { buildTrainingGraph } from './src/engine/training-graph.js';
import { TrainingSession } from './src/engine/training-session.js';
import { getModel } from './src/models/registry.js';
import { crossEntropyCoefficients } from './src/onnx/cross-entropy.js';
import { getOp, staticShape, floatAttr } from './src/onnx/op-registry.js';
import { loadSafetensors } from './src/weights/safetensors.js';
import type { NamedTensors } from './src/tensor.js';
const name = process.argv[2];
if (process.argv[3] === 'patch') {
  getOp('BatchNormalization').grad = (g, node, [dy], needs) => {
    const [x, scale, , mean, variance] = node.inputs;
    const eps = floatAttr(node, 'epsilon', 1e-5);
    const shape = staticShape(g, x);
    const c = shape[1];
    const training = g.notes.get(node.name)?.batchStatistics === true;
    const pc = (v: string) => g.op('Reshape', [v, g.ints([1, c, 1, 1])]);
    const invstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
    const axes = g.ints([0, 2, 3]);
    const sumDy = g.op('ReduceSum', [dy!, axes], { keepdims: 0 });
    const centred = g.op('Sub', [x, pc(mean)]);
    const dScale = g.op('Mul', [invstd, g.op('ReduceSum', [g.op('Mul', [dy!, centred]), axes], { keepdims: 0 })]);
    const a = g.op('Mul', [scale, invstd]);
    let dx: string | undefined;
    if (needs[0]) {
      if (!training) dx = g.op('Mul', [dy!, pc(a)]);
      else {
        const mInv = 1 / (shape[0] * shape[2] * shape[3]);
        const b = g.op('Mul', [g.op('Neg', [g.op('Mul', [a, g.op('Mul', [dScale, invstd])])]), g.scalar(mInv)]);
        const k = g.op('Neg', [g.op('Mul', [a, g.op('Mul', [sumDy, g.scalar(mInv)])])]);
        dx = g.op('Add', [g.op('Add', [g.op('Mul', [dy!, pc(a)]), g.op('Mul', [centred, pc(b)])]), pc(k)]);
      }
    }
    return [dx, needs[1] ? dScale : undefined, needs[2] ? sumDy : undefined, undefined, undefined];
  };
}
const refJson = JSON.parse(readFileSync('/tmp/mref/out.json', 'utf8')).models.find((m: any) => m.name === name);
const state = await loadSafetensors(`/tmp/mref/${name}.train-state.safetensors`);
const ref = await loadSafetensors(`/tmp/mref/${name}.ref.safetensors`);
const spec = getModel(name);
const graph = buildTrainingGraph({ ...spec, head: { ...spec.head, dropout: 0 } }, { batch: 2, numClasses: 5, inputSize: 64, trainable: () => true });
const params: NamedTensors = new Map([...state].map(([k, t]) => [k, { ...t, data: (t.data as Float32Array).slice() }]));
const s = await TrainingSession.create(graph, params, { threads: 2 });
const r = await s.step(ref.get('input')!.data as Float32Array, crossEntropyCoefficients(refJson.labels, 5));
for (const n of refJson.grads) {
  const a = r.grads.get(n)!; const b = ref.get(`grad64:${n}`)!.data as Float32Array;
  let d = 0, m = 0; for (let i = 0; i < b.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  console.log(n.padEnd(36), (d / Math.max(m, 1e-3)).toExponential(2), refJson.torch32.grads[n].toExponential(2));
}
