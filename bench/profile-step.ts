/**
 * Profiles one training step of a zoo model with ONNX Runtime's profiler and prints the time per
 * op type and the slowest nodes (a development tool, not a benchmark).
 * MODEL=resnet18 B=8 MODE=finetune|frozen THREADS=2 node --import tsx bench/profile-step.ts
 * HEADSTART_BLOCKED_CONV=1 profiles the blocked-layout graph (src/engine/blocked-layout.ts).
 */
import { blockedConvLayout } from '../src/engine/blocked-layout.js';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random } from '../src/random.js';
import fs from 'node:fs';
import os from 'node:os';
const spec = getModel(process.env.MODEL ?? 'resnet18');
const B = Number(process.env.B ?? 8);
const mode = process.env.MODE ?? 'finetune';
const trainable = mode === 'finetune' ? () => true : (n: string) => n.startsWith('fc.');
const probe = buildTrainingGraph(spec, { batch: B, numClasses: 1000, trainable });
const params = initParams(probe.params, 0);
const blocked = await blockedConvLayout();
const tg = buildTrainingGraph(spec, { batch: B, numClasses: 1000, trainable, constants: params, blocked });
const s = await TrainingSession.create(tg, params, { threads: Number(process.env.THREADS ?? 2), profilePrefix: `/tmp/ortprof-${process.pid}` });
const size = spec.preprocess.inputSize;
const images = new Float32Array(B * 3 * size * size).map(() => Math.random() - 0.5);
const targets = crossEntropyCoefficients(
  Array.from({ length: B }, (_, i) => i % 1000),
  1000,
);
// Dropout masks for the models that have dropout (mobilenet_v2, efficientnet_b0).
const dropout = new Random(1);
for (let i = 0; i < 3; i++) await s.step(images, targets, dropout);
s.endProfiling();
const file = fs
  .readdirSync('/tmp')
  .filter((f) => f.startsWith(`ortprof-${process.pid}`))
  .map((f) => '/tmp/' + f)
  .sort()
  .pop()!;
/** One event of ONNX Runtime's Chrome-trace profile (the fields read here). */
interface ProfileEvent {
  name: string;
  cat: string;
  ts: number;
  dur: number;
  args: { op_name: string };
}
const events = JSON.parse(fs.readFileSync(file, 'utf8')) as ProfileEvent[];
const runs = events.filter((e) => e.name === 'model_run');
const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
const lastRunStart = runs[runs.length - 1].ts;
const byOp = new Map<string, number>();
const byNode: [string, number][] = [];
let total = 0;
for (const e of nodes) {
  if (e.ts < lastRunStart) continue;
  const op = e.args.op_name;
  byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
  byNode.push([`${op} ${e.name.replace('_kernel_time', '')}`, e.dur]);
  total += e.dur;
}
console.log(`${spec.name} batch ${B} ${mode}, convolutions: ${blocked ? `blocked (block ${blocked.block}, from ${blocked.minSize} px)` : 'plain'}, load average ${os.loadavg()[0].toFixed(2)}`);
console.log('model_run ms', runs.map((r) => (r.dur / 1000).toFixed(0)).join(' '), 'sum of kernels', (total / 1000).toFixed(0));
console.log(
  [...byOp]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 20)
    .map(([k, v]) => `${k.padEnd(24)} ${(v / 1000).toFixed(1)}`)
    .join('\n'),
);
console.log('--- top nodes');
console.log(
  byNode
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([k, v]) => `${k.padEnd(60)} ${(v / 1000).toFixed(1)}`)
    .join('\n'),
);
