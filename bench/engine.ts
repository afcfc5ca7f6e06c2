/**
 * bench:engine — ResNet18 at 224x224, batch 16, all cores: headstart (ONNX Runtime running
 * graphs our autodiff builds) side by side with PyTorch (Debian's python3-torch, same thread
 * count, its fastest malloc settings) in the same run. Rounds alternate between the two so
 * machine noise hits both; medians are reported. The last line is the JSON of ratios.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { SGD } from '../src/optim/sgd.js';
import { Random, randomInt } from '../src/random.js';

const batch = Number(process.env.BENCH_BATCH ?? 16);
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const reps = Number(process.env.BENCH_REPS ?? 3);
const spec = getModel('resnet18');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rng = new Random(0);
const images = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => rng.normal());
const labels = Array.from({ length: batch }, () => randomInt(rng, 0, 1000));
const targets = crossEntropyCoefficients(labels, 1000);

async function timeIt(fn: () => Promise<void>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return batch / median(times);
}

async function headstart(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const probe = buildInferenceGraph(spec, { batch: -1, numClasses: 1000 });
  const params = initParams(probe.params, 0);
  // Inference: the standalone model (parameters embedded, so ONNX Runtime folds BatchNorm into Conv).
  const inf = buildInferenceGraph(spec, { batch: -1, numClasses: 1000, constants: params });
  const infSession = await Session.create(inf.bytes, { threads });
  out.inference = await timeIt(async () => {
    await infSession.run({ [IO.images]: { dtype: 'float32', shape: [batch, 3, 224, 224], data: images } });
  });
  await infSession.release();
  for (const mode of ['finetune', 'frozen'] as const) {
    const graph = buildTrainingGraph(spec, { batch, numClasses: 1000, trainable: mode === 'finetune' ? () => true : (n) => n.startsWith('fc.'), constants: params });
    const session = await TrainingSession.create(graph, params, { threads });
    const sgd = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 1e-3, momentum: 0.9 });
    out[mode] = await timeIt(async () => {
      const r = await session.step(images, targets);
      sgd.step(r.grads);
    });
    await session.release();
  }
  return out;
}

function pytorch(): Record<string, number> {
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };
  const r = spawnSync('/usr/bin/python3', ['bench/engine_torch.py', String(batch), String(threads), String(reps)], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`PyTorch side failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const ours: Record<string, number[]> = { inference: [], finetune: [], frozen: [] };
const theirs: Record<string, number[]> = { inference: [], finetune: [], frozen: [] };
for (let r = 0; r < rounds; r++) {
  const h = await headstart();
  const p = pytorch();
  for (const k of Object.keys(ours)) {
    ours[k].push(h[k]);
    theirs[k].push(p[k]);
  }
  console.error(`round ${r + 1}/${rounds}: headstart ${JSON.stringify(h)} pytorch ${JSON.stringify(p)}`);
}
console.log(`ResNet18 224x224, batch ${batch}, ${threads} threads, median of ${rounds} rounds x ${reps} reps (images/s)`);
console.log('phase       headstart   pytorch   ratio');
const ratios: Record<string, number> = {};
for (const k of Object.keys(ours)) {
  const h = median(ours[k]);
  const p = median(theirs[k]);
  ratios[k] = Number((h / p).toFixed(3));
  console.log(`${k.padEnd(10)} ${h.toFixed(2).padStart(10)} ${p.toFixed(2).padStart(9)} ${ratios[k].toFixed(2).padStart(7)}`);
}
console.log(JSON.stringify(ratios));
