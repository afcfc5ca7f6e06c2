import { buildTrainingGraph } from '../src/engine/training-graph.js';
import { TrainingSession } from '../src/engine/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
const spec = getModel('resnet18');
const B = Number(process.env.B ?? 16);
const mode = process.env.MODE ?? 'finetune';
const trainable = mode === 'finetune' ? () => true : (n: string) => n.startsWith('fc.');
const probe = buildTrainingGraph(spec, { batch: B, numClasses: 1000, trainable });
const params = initParams(probe.params, 0);
const tg = buildTrainingGraph(spec, { batch: B, numClasses: 1000, trainable, constants: params });
const s = await TrainingSession.create(tg, params, { threads: 2 });
const images = new Float32Array(B * 3 * 224 * 224).map(() => Math.random() - 0.5);
const targets = crossEntropyCoefficients(Array.from({ length: B }, (_, i) => i % 1000), 1000);
const times: number[] = [];
for (let i = 0; i < Number(process.env.REPS ?? 4); i++) {
  const t = performance.now();
  await s.step(images, targets);
  times.push(performance.now() - t);
}
console.log(mode, 'B', B, 'ms', times.map((t) => t.toFixed(0)).join(' '), 'img/s (median)', (B / ([...times].sort((a, b) => a - b)[times.length >> 1] / 1000)).toFixed(2));
