import { buildTrainingGraph, buildInferenceGraph } from '../src/engine/training-graph.js';
import { TrainingSession } from '../src/engine/training-session.js';
import { Session } from '../src/engine/session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
const spec = getModel('resnet18');
const B = Number(process.env.B ?? 16);
const mode = process.env.MODE ?? 'finetune';
let t0 = performance.now();
const tg = buildTrainingGraph(spec, { batch: B, numClasses: 1000, trainable: mode === 'finetune' ? () => true : (n) => n.startsWith('fc.') });
console.log('build', (performance.now() - t0).toFixed(0), 'ms', tg.bytes.length, 'bytes, trainable', tg.trainable.length);
const params = initParams(tg.params, 0);
t0 = performance.now();
const s = await TrainingSession.create(tg, params, { threads: 2 });
console.log('session', (performance.now() - t0).toFixed(0), 'ms');
const images = new Float32Array(B * 3 * 224 * 224).map(() => Math.random() - 0.5);
const targets = crossEntropyCoefficients(Array.from({ length: B }, (_, i) => i % 1000), 1000);
const times = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  const r = await s.step(images, targets);
  times.push(performance.now() - t);
  console.log('step', (performance.now() - t).toFixed(0), 'ms loss', r.loss.toFixed(4));
}
