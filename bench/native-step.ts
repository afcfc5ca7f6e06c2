/**
 * bench:native-step — the ResNet18 fine-tune step (224x224, SGD with momentum) on three engines side by
 * side in one run: headstart's ONNX Runtime graph (as bench:engine runs it), headstart's all-native
 * oneDNN step (native/headstart_plan.cc; needs `npm run build:native`) and PyTorch (Debian's, same
 * threads, its fastest malloc settings). Rounds alternate between the three; medians of the rounds'
 * median steps are reported as images/s, with the process CPU-ms per step (the only figure that
 * means anything on a loaded machine), the worst/median step spread, the native step's time per
 * kind of work, and the peak RSS of each engine running 3 steps in a fresh process.
 *
 *   BENCH_BATCH (16), BENCH_THREADS (all cores), BENCH_ROUNDS (3), BENCH_REPS (3), BENCH_WARMUPS (2),
 *   BENCH_SIZE (224: a smaller input for a quick check), BENCH_OMP_PASSIVE=1 (OMP_WAIT_POLICY=passive
 *   for the native engine's OpenMP team; must be set before the addon loads, so it is done here),
 *   BENCH_WINOGRAD=0 (leave out the row of the native step with Winograd convolutions,
 *   HEADSTART_NATIVE_CONV_ALGO=winograd: ~20% less CPU in a loaded check, larger rounding differences),
 *   BENCH_CONV_ALGO=auto (that row with HEADSTART_NATIVE_CONV_ALGO=auto instead: direct or Winograd per
 *   convolution, whichever a timing probe at plan build finds faster; the plan build's time is printed),
 *   BENCH_MODEL (resnet18; mobilenet_v2 times torchvision's MobileNetV2 on all three, its head's dropout
 *   active with the same host-drawn masks on both headstart engines; efficientnet_b0 and mobilenet_v3_large
 *   likewise — efficientnet_b0's stochastic depth (0.2, row mode) runs in train mode on all three: torchvision's
 *   own draws, and on both headstart engines the row masks drawn per step from the keyed source (the native
 *   step's ROWSCALE ops, in the "relu/add" rows of its breakdown); PyTorch's peak RSS is measured for resnet18 only).
 * The SGD update after each step is timed apart (wall and CPU ms per step; the native optimiser update,
 * native/headstart_optim.cc, on BENCH_THREADS threads where built, else the JS loops;
 * HEADSTART_NATIVE_OPTIM=0 forces JS) and printed with its share of the native step.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { blockedConvLayout } from '../src/engine/blocked-layout.js';
import { nativePlanUnavailable } from '../src/engine/native-plan.js';
import { NativeTrainingSession } from '../src/graphs/native-training-session.js';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { loadNativeOptim, setNativeOptimThreads } from '../src/optim/native-optim.js';
import { SGD } from '../src/optim/sgd.js';
import { keyedRandom, Random, randomInt, type RandomSource } from '../src/random.js';
import type { StepResult } from '../src/graphs/training-session.js';

if (process.env.BENCH_OMP_PASSIVE === '1') process.env.OMP_WAIT_POLICY = 'passive';
const batch = Number(process.env.BENCH_BATCH ?? 16);
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const reps = Number(process.env.BENCH_REPS ?? 3);
const warmups = Number(process.env.BENCH_WARMUPS ?? 2);
const size = Number(process.env.BENCH_SIZE ?? 224);
const modelName = process.env.BENCH_MODEL ?? 'resnet18';
const altAlgo = process.env.BENCH_CONV_ALGO ?? 'winograd';
const spec = getModel(modelName);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const unavailable = nativePlanUnavailable();
if (unavailable) {
  console.error(`bench:native-step: ${unavailable}`);
  process.exit(1);
}

const rng = new Random(0);
const images = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
const targets = crossEntropyCoefficients(
  Array.from({ length: batch }, () => randomInt(rng, 0, 1000)),
  1000,
);

interface Engine {
  step(): Promise<void>;
  /** Native only: the addon's ms per kind of work so far (names, cumulative ms, steps). */
  profile?: () => { names: string[]; ms: number[]; steps: number };
  /** The optimiser update's cumulative wall and CPU ms, and steps. */
  optim: { wall: number; cpu: number; steps: number };
}

type EngineKind = 'onnx' | 'native' | 'native-winograd';

async function makeEngine(kind: EngineKind): Promise<Engine> {
  const graphOpts = { batch, numClasses: 1000, inputSize: size, trainable: () => true };
  const params = initParams(buildTrainingGraph(spec, graphOpts).params, 0);
  let session: { step(x: Float32Array, t: Float32Array, random?: RandomSource): Promise<StepResult>; trainable: string[] };
  let profile: Engine['profile'];
  if (kind === 'onnx') {
    const graph = buildTrainingGraph(spec, { ...graphOpts, constants: params, blocked: await blockedConvLayout() });
    const s = await TrainingSession.create(graph, params, { threads });
    session = { step: (x, t, random) => s.step(x, t, random), trainable: graph.trainable };
  } else {
    if (kind === 'native-winograd') process.env.HEADSTART_NATIVE_CONV_ALGO = altAlgo;
    const built = performance.now();
    const s = NativeTrainingSession.create(spec, { ...graphOpts, threads }, params);
    const buildMs = performance.now() - built;
    delete process.env.HEADSTART_NATIVE_CONV_ALGO;
    if ('unsupported' in s) throw new Error(`${modelName} on the native engine: unsupported ${s.unsupported}`);
    session = s;
    if (kind === 'native') profile = () => s.stats();
    const st = s.stats();
    const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
    console.error(
      `${kind === 'native' ? 'native' : `native-${altAlgo}`}: plan built in ${buildMs.toFixed(0)} ms; buffers ${mb(st.bufferBytes)} MB placed by liveness (${mb(st.unsharedBufferBytes)} MB unshared); ${st.winogradConvs} of ${st.convs} convolutions on Winograd`,
    );
  }
  const sgd = new SGD([{ params: session.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 1e-3, momentum: 0.9 });
  let steps = 0;
  const optim = { wall: 0, cpu: 0, steps: 0 };
  // Dropout masks (models with dropout): drawn per step from a keyed source, as the trainer does.
  const step = async () => {
    const grads = (await session.step(images, targets, keyedRandom(0, steps++))).grads;
    const t = performance.now();
    const c = cpuMs();
    sgd.step(grads);
    optim.cpu += cpuMs() - c;
    optim.wall += performance.now() - t;
    optim.steps++;
  };
  return { step, profile, optim };
}

/** The native step's ms per kind of work, summed over the timed steps only (warm-ups left out). */
const nativeProfile = { ms: [] as number[], names: [] as string[], steps: 0 };
/** The optimiser update after the native step, over the timed steps only. */
const nativeOptim = { wall: 0, cpu: 0, steps: 0, stepWall: 0 };
setNativeOptimThreads(threads);

interface Timing {
  rate: number;
  cpuMs: number;
  spread: number;
}

async function timeSteps(e: Engine): Promise<Timing> {
  for (let i = 0; i < warmups; i++) await e.step();
  const before = e.profile?.();
  const optimBefore = { ...e.optim };
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const c = cpuMs();
    await e.step();
    walls.push(performance.now() - t);
    cpus.push(cpuMs() - c);
  }
  if (before) {
    nativeOptim.wall += e.optim.wall - optimBefore.wall;
    nativeOptim.cpu += e.optim.cpu - optimBefore.cpu;
    nativeOptim.steps += e.optim.steps - optimBefore.steps;
    nativeOptim.stepWall += walls.reduce((a, b) => a + b, 0);
    const after = e.profile!();
    nativeProfile.names = after.names;
    nativeProfile.ms = after.ms.map((ms, i) => (nativeProfile.ms[i] ?? 0) + ms - before.ms[i]);
    nativeProfile.steps += after.steps - before.steps;
  }
  return { rate: (1000 * batch) / median(walls), cpuMs: median(cpus), spread: Math.max(...walls) / median(walls) };
}

const torchEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };
function pytorch(): Timing {
  const r = spawnSync('/usr/bin/python3', ['bench/native_step_torch.py', String(batch), String(threads), String(reps), String(warmups), modelName, String(size)], {
    encoding: 'utf8',
    env: torchEnv,
  });
  if (r.status !== 0) throw new Error(`PyTorch side failed: ${r.stderr}`);
  return { ...(JSON.parse(r.stdout.trim().split('\n').pop()!) as { rate: number; cpuMs: number }), spread: NaN };
}

if (process.argv[2] === '--rss-child') {
  const e = await makeEngine(process.argv[3] as EngineKind);
  for (let i = 0; i < 3; i++) await e.step();
  console.log(JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  process.exit(0);
}

function peakRss(kind: EngineKind): number {
  const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--rss-child', kind], { encoding: 'utf8', env: process.env });
  if (r.status !== 0) throw new Error(`${kind} RSS run failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!).maxRssMB as number;
}
function torchRss(): number {
  if (size !== 224 || modelName !== 'resnet18') return NaN;
  const r = spawnSync('/usr/bin/python3', ['bench/engine_torch.py', String(batch), String(threads), '3', 'rss'], { encoding: 'utf8', env: torchEnv });
  if (r.status !== 0) throw new Error(`PyTorch RSS run failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!).maxRssMB as number;
}
// First, while this process is small: Linux folds a parent's RSS into a child's ru_maxrss at exec.
const rss = { onnx: peakRss('onnx'), native: peakRss('native'), pytorch: torchRss() };
const onnx = await makeEngine('onnx');
const native = await makeEngine('native');
const winograd = process.env.BENCH_WINOGRAD === '0' ? undefined : await makeEngine('native-winograd');
const results: Record<EngineKind | 'pytorch', Timing[]> = { onnx: [], native: [], 'native-winograd': [], pytorch: [] };
for (let r = 0; r < rounds; r++) {
  results.onnx.push(await timeSteps(onnx));
  results.native.push(await timeSteps(native));
  if (winograd) results['native-winograd'].push(await timeSteps(winograd));
  results.pytorch.push(pytorch());
  const fmt = (t: Timing) => `${t.rate.toFixed(2)} img/s ${t.cpuMs.toFixed(0)} CPU-ms`;
  console.error(
    `round ${r + 1}/${rounds} (load average ${os.loadavg()[0].toFixed(2)}): onnx ${fmt(results.onnx[r])}, native ${fmt(results.native[r])}, ${winograd ? `native-${altAlgo} ${fmt(results['native-winograd'][r])}, ` : ''}pytorch ${fmt(results.pytorch[r])}`,
  );
}

console.log(
  `${modelName} fine-tune step, ${size}x${size}, batch ${batch}, ${threads} threads, median of ${rounds} rounds x ${reps} steps; OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY ?? '(default)'}; load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log('engine                      img/s   CPU-ms/step  vs PyTorch  worst/median step  peak RSS MB');
const torchRate = median(results.pytorch.map((t) => t.rate));
const ratios: Record<string, number> = {};
for (const k of ['onnx', 'native', ...(winograd ? (['native-winograd'] as const) : []), 'pytorch'] as const) {
  const rate = median(results[k].map((t) => t.rate));
  const cpu = median(results[k].map((t) => t.cpuMs));
  ratios[k] = Number((rate / torchRate).toFixed(3));
  const spread = results[k].map((t) => t.spread).filter(Number.isFinite);
  console.log(
    `${`headstart ${k}`.replace('headstart pytorch', 'pytorch').replace('winograd', altAlgo).padEnd(26)} ${rate.toFixed(2).padStart(6)} ${cpu.toFixed(0).padStart(13)} ${ratios[k].toFixed(2).padStart(11)} ${(spread.length ? Math.max(...spread).toFixed(2) : '-').padStart(18)} ${(k === 'native-winograd' ? '-' : rss[k].toFixed(0)).padStart(12)}`,
  );
}
const kinds = nativeProfile.names.map((n, i) => [n, nativeProfile.ms[i] / nativeProfile.steps] as const).filter(([, ms]) => ms >= 0.05);
console.log(`native step, wall ms per timed step by kind of work: ${kinds.map(([n, ms]) => `${n} ${ms.toFixed(1)}`).join(', ')}`);
const optimKind = loadNativeOptim();
console.log(
  `optimiser update (SGD momentum 0.9, ${'addon' in optimKind ? `native, ${optimKind.addon.getThreads()} threads` : `JS: ${optimKind.reason}`}), per native step: wall ${(nativeOptim.wall / nativeOptim.steps).toFixed(1)} ms, CPU ${(nativeOptim.cpu / nativeOptim.steps).toFixed(1)} ms, ${((100 * nativeOptim.wall) / nativeOptim.stepWall).toFixed(1)}% of the step's wall time (step + update)`,
);
console.log(
  JSON.stringify({
    ...ratios,
    nativeVsOnnx: Number((median(results.native.map((t) => t.rate)) / median(results.onnx.map((t) => t.rate))).toFixed(3)),
    rssNativeVsTorch: Number((rss.native / rss.pytorch).toFixed(3)),
    altConvAlgo: altAlgo,
  }),
);
