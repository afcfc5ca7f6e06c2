/**
 * bench:engine — ResNet18 at 224x224, batch 16, all cores: headstart (ONNX Runtime running
 * graphs our autodiff builds) side by side with PyTorch (Debian's python3-torch, same thread
 * count, its fastest malloc settings) in the same run. Rounds alternate between the two so
 * machine noise hits both; medians are reported. Also a full fine-tune step of each model in
 * BENCH_MODELS (default mobilenet_v2,efficientnet_b0: depthwise convolutions), and the peak RSS
 * of a ResNet18 fine-tune step, each side in a fresh process. The last line is the JSON of ratios.
 * Training graphs use the blocked-layout convolutions when HEADSTART_BLOCKED_CONV=1 (see
 * src/engine/blocked-layout.ts); the header line says which.
 */
import { spawnSync } from 'node:child_process';
import { blockedConvLayout } from '../src/engine/blocked-layout.js';
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
const warmups = Number(process.env.BENCH_WARMUPS ?? 2);
const spec = getModel('resnet18');
const extraModels = (process.env.BENCH_MODELS ?? 'mobilenet_v2,efficientnet_b0').split(',').filter(Boolean);
const blocked = await blockedConvLayout();
const rssChild = process.argv[2] === '--rss-child';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rng = new Random(0);
const images = Float32Array.from({ length: batch * 3 * 224 * 224 }, () => rng.normal());
const labels = Array.from({ length: batch }, () => randomInt(rng, 0, 1000));
const targets = crossEntropyCoefficients(labels, 1000);

/** Worst / median step of each phase's timed reps, per round (the step spread of issue 10). */
const spreads = new Map<string, number[]>();

async function timeIt(fn: () => Promise<void>, phase?: string): Promise<number> {
  // Two warm-ups: ONNX Runtime allocates its memory-pattern block on a session's second run
  // (tens of thousands of page faults, a step ~2x the others).
  for (let i = 0; i < warmups; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  if (phase) spreads.set(phase, [...(spreads.get(phase) ?? []), Math.max(...times) / median(times)]);
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
    const graph = buildTrainingGraph(spec, { batch, numClasses: 1000, trainable: mode === 'finetune' ? () => true : (n) => n.startsWith('fc.'), constants: params, blocked });
    const session = await TrainingSession.create(graph, params, { threads });
    const sgd = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 1e-3, momentum: 0.9 });
    out[mode] = await timeIt(async () => {
      const r = await session.step(images, targets);
      sgd.step(r.grads);
    }, mode);
    await session.release();
  }
  for (const name of extraModels) out[`finetune ${name}`] = await finetuneRate(name);
  return out;
}

/** Images/s of a full fine-tune step (SGD with momentum) of a zoo model at its input size. */
async function finetuneRate(name: string, steps?: number): Promise<number> {
  const model = getModel(name);
  const size = model.preprocess.inputSize;
  const graphOpts = { batch, numClasses: 1000, inputSize: size, trainable: () => true };
  const params = initParams(buildTrainingGraph(model, graphOpts).params, 0);
  const graph = buildTrainingGraph(model, { ...graphOpts, blocked });
  const session = await TrainingSession.create(graph, params, { threads });
  const sgd = new SGD([{ params: graph.trainable.map((p) => ({ name: p, data: params.get(p)!.data as Float32Array })) }], { lr: 1e-3, momentum: 0.9 });
  const x = size === 224 ? images : Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
  const dropout = new Random(1);
  const step = async () => sgd.step((await session.step(x, targets, dropout)).grads);
  let rate = 0;
  if (steps === undefined) rate = await timeIt(step, `finetune ${name}`);
  else for (let i = 0; i < steps; i++) await step();
  await session.release();
  return rate;
}

if (rssChild) {
  await finetuneRate('resnet18', 3);
  console.log(JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

const torchEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

function pytorch(): Record<string, number> {
  const r = spawnSync('/usr/bin/python3', ['bench/engine_torch.py', String(batch), String(threads), String(reps), extraModels.join(',')], { encoding: 'utf8', env: torchEnv });
  if (r.status !== 0) throw new Error(`PyTorch side failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// Peak RSS first: Linux keeps a process's RSS high-water mark across execve, so a child started
// after the rounds (this process then holds several sessions) would report this process's size.
const rss = peakRss();

const phases = ['inference', 'finetune', 'frozen', ...extraModels.map((m) => `finetune ${m}`)];
const ours: Record<string, number[]> = Object.fromEntries(phases.map((k) => [k, []]));
const theirs: Record<string, number[]> = Object.fromEntries(phases.map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  const h = await headstart();
  const p = pytorch();
  for (const k of Object.keys(ours)) {
    ours[k].push(h[k]);
    theirs[k].push(p[k]);
  }
  console.error(`round ${r + 1}/${rounds} (load average ${os.loadavg()[0].toFixed(2)}): headstart ${JSON.stringify(h)} pytorch ${JSON.stringify(p)}`);
}

/** Peak RSS (MB) of a fresh process running 3 ResNet18 fine-tune steps at this batch. */
function peakRss(): { headstart: number; pytorch: number } {
  const ours = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--rss-child'], { encoding: 'utf8', env: process.env });
  if (ours.status !== 0) throw new Error(`headstart RSS run failed: ${ours.stderr}`);
  const theirs = spawnSync('/usr/bin/python3', ['bench/engine_torch.py', String(batch), String(threads), '3', 'rss'], { encoding: 'utf8', env: torchEnv });
  if (theirs.status !== 0) throw new Error(`PyTorch RSS run failed: ${theirs.stderr}`);
  const last = (out: string) => JSON.parse(out.trim().split('\n').pop()!).maxRssMB as number;
  return { headstart: last(ours.stdout), pytorch: last(theirs.stdout) };
}

console.log(
  `ResNet18 224x224 (other models at their input size), batch ${batch}, ${threads} threads, median of ${rounds} rounds x ${reps} reps (images/s); ` +
    `convolutions: ${blocked ? `blocked layout (block ${blocked.block}, from ${blocked.minSize} px)` : 'plain'}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
console.log('phase                     headstart   pytorch   ratio');
const ratios: Record<string, number> = {};
for (const k of Object.keys(ours)) {
  const h = median(ours[k]);
  const p = median(theirs[k]);
  ratios[k] = Number((h / p).toFixed(3));
  console.log(`${k.padEnd(24)} ${h.toFixed(2).padStart(10)} ${p.toFixed(2).padStart(9)} ${ratios[k].toFixed(2).padStart(7)}`);
}
console.log(`step spread, worst / median of the ${reps} timed steps per round (headstart): ${[...spreads].map(([phase, xs]) => `${phase} ${xs.map((x) => x.toFixed(2)).join(' ')}`).join('; ')}`);
ratios.peakRss = Number((rss.headstart / rss.pytorch).toFixed(3));
console.log(`peak RSS, ResNet18 fine-tune step: headstart ${rss.headstart.toFixed(0)} MB, PyTorch ${rss.pytorch.toFixed(0)} MB (ratio ${ratios.peakRss.toFixed(2)})`);
console.log(JSON.stringify(ratios));
