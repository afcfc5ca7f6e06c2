/**
 * The native convolution prototype (issue 10, lever 6) against headstart's ONNX formulation and
 * PyTorch, on ResNet18's 20 convolutions: forward + backward-data + backward-weights time per
 * layer and in total, then the whole fine-tune step that the totals imply.
 *
 *   npm run bench:native-conv
 *   BENCH_BATCH=16,8 BENCH_ROUNDS=5 BENCH_THREADS=2 BENCH_SIZE=224 BENCH_STEP=1 npm run bench:native-conv
 *
 * Per batch size, each round runs (a) the oneDNN addon (native/, built by native/build.sh; plain
 * NCHW buffers in and out, the reorders to oneDNN's blocked layouts included and also reported
 * apart), (b) ONNX Runtime on a one-conv graph: Conv and the project's Conv gradient rule
 * (src/onnx/ops/conv.ts), the blocked-layout rewrite when HEADSTART_BLOCKED_CONV=1, as the
 * training graph has it, and (c) PyTorch (Debian's, torch.set_num_threads) conv2d + autograd, in a
 * helper process driven round by round (bench/native_conv_torch.py). The stem gets no input
 * gradient in any of them (a fine-tune step never computes the image's gradient). Then, with
 * BENCH_STEP=1 (default), one full ResNet18 fine-tune step of each (headstart's TrainingSession
 * with SGD, torchvision + SGD). ONNX Runtime's profiler gives the conv share of headstart's step
 * (the one-conv graphs' kernel time over the step's kernel time, as bench/profile-step.ts counts
 * kernels); step x (1 - share) + the oneDNN convolutions is the implied step: the bound of what
 * swapping in native convolutions (and nothing else, boundary copies not counted) can give.
 * Wall and process CPU time (all threads) are both printed: on a loaded machine CPU time with
 * BENCH_THREADS=1 is the steadier guide. Medians over the rounds; the first round is a warm-up and
 * not counted. Layers of the same shape are timed once and counted with their multiplicity
 * (ResNet18 has 11 distinct shapes).
 *
 * The ONNX side's per-layer time includes ONNX Runtime copying the outputs (y, dx, dw) into fresh
 * buffers, which a conv inside the training graph does not pay (hence the profiler for the share).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { blockedConvLayout } from '../src/engine/blocked-layout.js';
import { nativeConvOutputShape, requireNativeConv, type NativeConvSpec } from '../src/engine/native-conv.js';
import { Session } from '../src/engine/session.js';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { blockConvs } from '../src/onnx/blocked-convs.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Graph } from '../src/onnx/graph.js';
import { getOp } from '../src/onnx/op-registry.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { SGD } from '../src/optim/sgd.js';
import { Random, randomInt } from '../src/random.js';
import type { HostTensor } from '../src/tensor.js';

const batches = (process.env.BENCH_BATCH ?? '16,8').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const threads = Number(process.env.BENCH_THREADS ?? 2);
const size = Number(process.env.BENCH_SIZE ?? 224);
const withStep = process.env.BENCH_STEP !== '0';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

const conv = requireNativeConv();
conv.setThreads(threads);
const blocked = await blockedConvLayout();

/** One distinct ResNet18 convolution shape and how many of the 20 layers have it. */
interface Layer {
  name: string;
  times: number;
  spec: NativeConvSpec & { strides: [number, number]; pads: [number, number, number, number] };
  inputGrad: boolean;
}

function resnet18Layers(batch: number): Layer[] {
  const layer = (name: string, times: number, c: number, m: number, k: number, stride: number, at: number): Layer => {
    const p = (k - 1) >> 1;
    return { name, times, spec: { x: [batch, c, at, at], w: [m, c, k, k], strides: [stride, stride], pads: [p, p, p, p] }, inputGrad: name !== 'conv1 (stem)' };
  };
  const s = size;
  return [
    layer('conv1 (stem)', 1, 3, 64, 7, 2, s),
    layer('layer1 3x3 64', 4, 64, 64, 3, 1, s / 4),
    layer('layer2.0.conv1 s2', 1, 64, 128, 3, 2, s / 4),
    layer('layer2.0.downsample', 1, 64, 128, 1, 2, s / 4),
    layer('layer2 3x3 128', 3, 128, 128, 3, 1, s / 8),
    layer('layer3.0.conv1 s2', 1, 128, 256, 3, 2, s / 8),
    layer('layer3.0.downsample', 1, 128, 256, 1, 2, s / 8),
    layer('layer3 3x3 256', 3, 256, 256, 3, 1, s / 16),
    layer('layer4.0.conv1 s2', 1, 256, 512, 3, 2, s / 16),
    layer('layer4.0.downsample', 1, 256, 512, 1, 2, s / 16),
    layer('layer4 3x3 512', 3, 512, 512, 3, 1, s / 32),
  ];
}

/** The project's one-conv graph: forward only, or forward + its gradient rule for dy. */
function onnxGraph(layer: Layer, backward: boolean): Uint8Array {
  const { spec } = layer;
  const g = new Graph();
  const x = g.input('x', 'float32', spec.x);
  const w = g.input('w', 'float32', spec.w);
  const y = g.op('Conv', [x, w], { strides: spec.strides, pads: spec.pads, kernel_shape: [spec.w[2], spec.w[3]] });
  g.output(g.alias(y, 'y'));
  if (backward) {
    const dy = g.input('dy', 'float32', nativeConvOutputShape(spec));
    const [dx, dw] = getOp('Conv').grad!(
      g,
      g.nodes.find((n) => n.op === 'Conv')!,
      [dy],
      [layer.inputGrad, true],
    );
    if (layer.inputGrad) g.output(g.alias(dx!, 'dx'));
    g.output(g.alias(dw!, 'dw'));
  }
  if (blocked) blockConvs(g, blocked);
  return serializeModel(g);
}

/** The PyTorch helper process, one JSON answer per command line. */
function torchHelper(batch: number, layers: Layer[]) {
  const torchLayers = layers.map((l) => ({ name: l.name, x: l.spec.x, w: l.spec.w, strides: l.spec.strides, pads: l.spec.pads, inputGrad: l.inputGrad }));
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };
  const child = spawn('/usr/bin/python3', ['bench/native_conv_torch.py', String(batch), String(threads), String(size), JSON.stringify(torchLayers)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    async ask<T>(command: string): Promise<T> {
      child.stdin.write(command + '\n');
      const next = await lines.next();
      if (next.done) throw new Error(`the PyTorch helper (bench/native_conv_torch.py) exited during "${command}"`);
      return JSON.parse(next.value) as T;
    },
    quit: () => child.stdin.end('quit\n'),
  };
}

/** ONNX Runtime profile event (the fields read here). */
interface ProfileEvent {
  name: string;
  cat: string;
  ts: number;
  dur: number;
}

/**
 * Median over the runs after the first of the summed kernel time (ms) of each run, from the profile a
 * session wrote with this prefix (then deleted): what the ops cost inside a graph, without the run's
 * input/output handling.
 */
function kernelMsPerRun(prefix: string): number {
  const dir = path.dirname(prefix);
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(path.basename(prefix) + '_'));
  const events = files.flatMap((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ProfileEvent[]);
  for (const f of files) fs.rmSync(path.join(dir, f));
  const runs = events.filter((e) => e.name === 'model_run').sort((a, b) => a.ts - b.ts);
  const kernels = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const perRun = runs.slice(1).map((r) => kernels.filter((k) => k.ts >= r.ts && k.ts <= r.ts + r.dur).reduce((a, k) => a + k.dur, 0) / 1000);
  return median(perRun);
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)).padStart(7);

async function benchBatch(batch: number): Promise<void> {
  const layers = resnet18Layers(batch);
  const rng = new Random(batch);
  const data = layers.map((l) => {
    const yShape = nativeConvOutputShape(l.spec);
    const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal() * 0.1);
    return {
      yShape,
      x: fill(count(l.spec.x)),
      w: fill(count(l.spec.w)),
      dy: fill(count(yShape)),
      y: new Float32Array(count(yShape)),
      dx: new Float32Array(count(l.spec.x)),
      dw: new Float32Array(count(l.spec.w)),
    };
  });
  const forwardSessions = await Promise.all(layers.map((l) => Session.create(onnxGraph(l, false), { threads })));
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'headstart-native-conv-'));
  const trainSessions = await Promise.all(layers.map((l, i) => Session.create(onnxGraph(l, true), { threads, profilePrefix: path.join(profileDir, `layer${i}`) })));
  const torch = torchHelper(batch, layers);

  let step: { run(): Promise<void>; release(): Promise<void> } | undefined;
  if (withStep) {
    const spec = getModel('resnet18');
    const probe = buildTrainingGraph(spec, { batch, numClasses: 1000, inputSize: size, trainable: () => true });
    const params = initParams(probe.params, 0);
    const graph = buildTrainingGraph(spec, { batch, numClasses: 1000, inputSize: size, trainable: () => true, constants: params, blocked });
    const session = await TrainingSession.create(graph, params, { threads, profilePrefix: path.join(profileDir, 'step') });
    const sgd = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 1e-3, momentum: 0.9 });
    const images = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
    const targets = crossEntropyCoefficients(
      Array.from({ length: batch }, () => randomInt(rng, 0, 1000)),
      1000,
    );
    step = {
      run: async () => sgd.step((await session.step(images, targets)).grads),
      release: async () => {
        session.endProfiling();
        await session.release();
      },
    };
  }

  /** Per layer: wall ms of each phase, and the process CPU ms of forward + backward (all threads). */
  const native = layers.map(() => ({ fwd: [] as number[], bwdData: [] as number[], bwdWeights: [] as number[], both: [] as number[], cpu: [] as number[] }));
  const onnx = layers.map(() => ({ fwd: [] as number[], both: [] as number[], cpu: [] as number[] }));
  const torchTimes = layers.map(() => ({ fwd: [] as number[], both: [] as number[], cpu: [] as number[] }));
  const reorderShare: number[] = [];
  const steps = { onnx: [] as number[], torch: [] as number[], onnxCpu: [] as number[], torchCpu: [] as number[] };
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  const tensor = (shape: number[], d: Float32Array): HostTensor => ({ dtype: 'float32', shape, data: d });

  for (let r = 0; r <= rounds; r++) {
    const keep = r > 0;
    conv.resetStats();
    for (const [i, l] of layers.entries()) {
      const d = data[i];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      conv.forward(l.spec, d.x, d.w, d.y);
      const t1 = performance.now();
      if (l.inputGrad) conv.backwardData(l.spec, d.dy, d.w, d.dx);
      const t2 = performance.now();
      conv.backwardWeights(l.spec, d.x, d.dy, d.dw);
      const t3 = performance.now();
      const c = cpuMs(c0);
      if (keep) {
        native[i].fwd.push(t1 - t0);
        native[i].bwdData.push(t2 - t1);
        native[i].bwdWeights.push(t3 - t2);
        native[i].both.push(t3 - t0);
        native[i].cpu.push(c);
      }
    }
    const s = conv.stats();
    if (keep) reorderShare.push(s.reorderMs / (s.reorderMs + s.computeMs));
    for (const [i, l] of layers.entries()) {
      const d = data[i];
      const x = tensor(l.spec.x, d.x);
      const w = tensor(l.spec.w, d.w);
      let t0 = performance.now();
      await forwardSessions[i].run({ x, w });
      const fwd = performance.now() - t0;
      const c0 = process.cpuUsage();
      t0 = performance.now();
      await trainSessions[i].run({ x, w, dy: tensor(d.yShape, d.dy) });
      const both = performance.now() - t0;
      const c = cpuMs(c0);
      if (keep) {
        onnx[i].fwd.push(fwd);
        onnx[i].both.push(both);
        onnx[i].cpu.push(c);
      }
    }
    const theirs = await torch.ask<Record<string, [number, number, number]>>('layers');
    if (keep) layers.forEach((l, i) => theirs[l.name].forEach((v, k) => [torchTimes[i].fwd, torchTimes[i].both, torchTimes[i].cpu][k].push(v)));
    if (step) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await step.run();
      const ms = performance.now() - t0;
      const stepCpu = cpuMs(c0);
      const torchStep = await torch.ask<{ step: number; cpu: number }>('step');
      if (keep) {
        steps.onnx.push(ms);
        steps.onnxCpu.push(stepCpu);
        steps.torch.push(torchStep.step);
        steps.torchCpu.push(torchStep.cpu);
      }
    }
  }
  torch.quit();
  for (const s of trainSessions) s.endProfiling();
  await Promise.all([...forwardSessions, ...trainSessions].map((s) => s.release()));
  await step?.release();
  const convKernels = layers.reduce((a, l, i) => a + kernelMsPerRun(path.join(profileDir, `layer${i}`)) * l.times, 0);
  const stepKernels = step ? kernelMsPerRun(path.join(profileDir, 'step')) : 0;
  fs.rmSync(profileDir, { recursive: true, force: true });

  console.log(
    `\nResNet18 convolutions, batch ${batch}, ${size}x${size}, ${threads} threads, medians of ${rounds} rounds (ms per layer; "both" = forward + backward)` +
      `\nONNX side: ${blocked ? `blocked layout (block ${blocked.block}, from ${blocked.minSize} px)` : 'plain Conv'}; oneDNN ${conv.info().dnnl}; load average ${os.loadavg()[0].toFixed(2)}`,
  );
  console.log(
    `${'layer'.padEnd(22)} x  ${'dnnl fwd'.padStart(8)} ${'bwd-d'.padStart(7)} ${'bwd-w'.padStart(7)} ${'both'.padStart(7)} | ${'onnx fwd'.padStart(8)} ${'both'.padStart(7)} | ${'torch fwd'.padStart(9)} ${'both'.padStart(7)} | onnx/dnnl torch/dnnl | CPU ms: dnnl    onnx   torch`,
  );
  const sum = (pick: (i: number) => number) => layers.reduce((a, l, i) => a + pick(i) * l.times, 0);
  const totals = {
    native: sum((i) => median(native[i].both)),
    nativeFwd: sum((i) => median(native[i].fwd)),
    onnx: sum((i) => median(onnx[i].both)),
    onnxFwd: sum((i) => median(onnx[i].fwd)),
    torch: sum((i) => median(torchTimes[i].both)),
    torchFwd: sum((i) => median(torchTimes[i].fwd)),
    nativeCpu: sum((i) => median(native[i].cpu)),
    onnxCpu: sum((i) => median(onnx[i].cpu)),
    torchCpu: sum((i) => median(torchTimes[i].cpu)),
  };
  const row = (
    name: string,
    times: string,
    n: { fwd: number; bwdData?: number; bwdWeights?: number; both: number; cpu: number },
    o: { fwd: number; both: number; cpu: number },
    t: { fwd: number; both: number; cpu: number },
  ) =>
    console.log(
      `${name.padEnd(22)} ${times}  ${fmt(n.fwd).padStart(8)} ${n.bwdData === undefined ? '      -' : fmt(n.bwdData)} ${n.bwdWeights === undefined ? '      -' : fmt(n.bwdWeights)} ${fmt(n.both)} | ${fmt(o.fwd).padStart(8)} ${fmt(o.both)} | ${fmt(t.fwd).padStart(9)} ${fmt(t.both)} | ${(o.both / n.both).toFixed(2).padStart(9)} ${(t.both / n.both).toFixed(2).padStart(10)} | ${fmt(n.cpu).padStart(11)} ${fmt(o.cpu)} ${fmt(t.cpu)}`,
    );
  layers.forEach((l, i) => {
    const n = native[i];
    const pick = (o: { fwd: number[]; both: number[]; cpu: number[] }) => ({ fwd: median(o.fwd), both: median(o.both), cpu: median(o.cpu) });
    row(l.name, String(l.times), { ...pick(n), bwdData: l.inputGrad ? median(n.bwdData) : undefined, bwdWeights: median(n.bwdWeights) }, pick(onnx[i]), pick(torchTimes[i]));
  });
  row(
    'all 20 layers',
    ' ',
    { fwd: totals.nativeFwd, both: totals.native, cpu: totals.nativeCpu },
    { fwd: totals.onnxFwd, both: totals.onnx, cpu: totals.onnxCpu },
    { fwd: totals.torchFwd, both: totals.torch, cpu: totals.torchCpu },
  );
  const share = median(reorderShare);
  console.log(
    `oneDNN time in reorders between NCHW and its blocked layouts: ${(share * 100).toFixed(0)}% (an all-native step keeping the blocked layout saves up to ${fmt(totals.native * share).trim()} ms)`,
  );
  console.log('CPU ms: process CPU time (all threads; spinning threads count), less disturbed than wall time on a loaded machine; with BENCH_THREADS=1 it is the work itself');
  if (!step) return;
  const onnxStep = median(steps.onnx);
  const torchStep = median(steps.torch);
  const rate = (ms: number) => `${((batch * 1000) / ms).toFixed(1)} img/s`;
  console.log(`\nwhole fine-tune step (forward, backward, SGD), batch ${batch}: medians of ${rounds}`);
  const convShare = convKernels / stepKernels;
  console.log(
    `  ONNX Runtime profiler: the 20 convolutions' kernels (forward + gradients, one-conv graphs) ${fmt(convKernels).trim()} ms, the step's kernels ${fmt(stepKernels).trim()} ms: conv share ${(convShare * 100).toFixed(0)}%` +
      (convShare > 1 ? ' (over 100%: loaded machine; not meaningful)' : ''),
  );
  for (const [label, stepMs, headstartConvs, nativeConvs, torchMs, torchConvs] of [
    ['wall', onnxStep, totals.onnx, totals.native, torchStep, totals.torch],
    ['CPU', median(steps.onnxCpu), totals.onnxCpu, totals.nativeCpu, median(steps.torchCpu), totals.torchCpu],
  ] as const) {
    // The conv share from the profiler: the isolated graphs' wall/CPU time also holds their output copies.
    const implied = stepMs * (1 - Math.min(convShare, 1)) + nativeConvs;
    console.log(
      `  ${label.padEnd(4)} headstart ${fmt(stepMs)} ms (${rate(stepMs)}), its convolutions as one-conv graphs ${fmt(headstartConvs).trim()} ms (with output copies);` +
        ` PyTorch ${fmt(torchMs).trim()} ms (${rate(torchMs)}), convolutions ${fmt(torchConvs).trim()} ms = ${((torchConvs / torchMs) * 100).toFixed(0)}%`,
    );
    const subtracted = stepMs - headstartConvs + nativeConvs;
    console.log(
      `       implied with oneDNN convolutions: step x (1 - conv share) + oneDNN's ${fmt(nativeConvs).trim()} ms = ${fmt(implied).trim()} ms (${rate(implied)}) = ${(torchMs / implied).toFixed(2)}x PyTorch (today ${(torchMs / stepMs).toFixed(2)}x);` +
        ` the rest of the step costs ${fmt(stepMs * (1 - Math.min(convShare, 1))).trim()} ms here, ${fmt(torchMs - torchConvs).trim()} ms in PyTorch`,
    );
    console.log(
      `       or step - one-conv graphs (their output copies included) + oneDNN = ${fmt(subtracted).trim()} ms` +
        (subtracted > 0 ? ` (${rate(subtracted)}) = ${(torchMs / subtracted).toFixed(2)}x PyTorch` : ' (not meaningful: the graphs alone took longer than the step)'),
    );
  }
}

for (const batch of batches) await benchBatch(batch);
