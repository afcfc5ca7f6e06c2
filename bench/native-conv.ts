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
 * with SGD, torchvision + SGD): the step minus the ONNX convolutions plus the native ones is the
 * implied step, the upper bound of what swapping in native convolutions (and nothing else) can give.
 * Medians over the rounds; the first round is a warm-up and not counted. Layers of the same
 * shape are timed once and counted with their multiplicity (ResNet18 has 11 distinct shapes).
 *
 * The ONNX side's time includes ONNX Runtime copying the outputs (y, dx, dw) into fresh buffers,
 * which a conv inside the training graph does not pay: it is an upper bound on the conv share.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
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
  const trainSessions = await Promise.all(layers.map((l) => Session.create(onnxGraph(l, true), { threads })));
  const torch = torchHelper(batch, layers);

  let step: { run(): Promise<void>; release(): Promise<void> } | undefined;
  if (withStep) {
    const spec = getModel('resnet18');
    const probe = buildTrainingGraph(spec, { batch, numClasses: 1000, inputSize: size, trainable: () => true });
    const params = initParams(probe.params, 0);
    const graph = buildTrainingGraph(spec, { batch, numClasses: 1000, inputSize: size, trainable: () => true, constants: params, blocked });
    const session = await TrainingSession.create(graph, params, { threads });
    const sgd = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 1e-3, momentum: 0.9 });
    const images = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
    const targets = crossEntropyCoefficients(
      Array.from({ length: batch }, () => randomInt(rng, 0, 1000)),
      1000,
    );
    step = {
      run: async () => sgd.step((await session.step(images, targets)).grads),
      release: () => session.release(),
    };
  }

  const t = { native: layers.map(() => ({ fwd: [] as number[], bwdData: [] as number[], bwdWeights: [] as number[] })) };
  const onnx = layers.map(() => ({ fwd: [] as number[], total: [] as number[] }));
  const torchTimes = layers.map(() => ({ fwd: [] as number[], total: [] as number[] }));
  const reorderShare: number[] = [];
  const steps = { onnx: [] as number[], torch: [] as number[], onnxCpu: [] as number[], torchCpu: [] as number[] };
  const cpu = { native: [] as number[], onnx: [] as number[], torch: [] as number[] };
  const cpuMs = (since: NodeJS.CpuUsage) => {
    const u = process.cpuUsage(since);
    return (u.user + u.system) / 1000;
  };
  const tensor = (shape: number[], d: Float32Array): HostTensor => ({ dtype: 'float32', shape, data: d });

  for (let r = 0; r <= rounds; r++) {
    const keep = r > 0;
    conv.resetStats();
    let cpu0 = process.cpuUsage();
    for (const [i, l] of layers.entries()) {
      const d = data[i];
      let t0 = performance.now();
      conv.forward(l.spec, d.x, d.w, d.y);
      const fwd = performance.now() - t0;
      t0 = performance.now();
      if (l.inputGrad) conv.backwardData(l.spec, d.dy, d.w, d.dx);
      const bwdData = performance.now() - t0;
      t0 = performance.now();
      conv.backwardWeights(l.spec, d.x, d.dy, d.dw);
      const bwdWeights = performance.now() - t0;
      if (keep) {
        t.native[i].fwd.push(fwd);
        t.native[i].bwdData.push(bwdData);
        t.native[i].bwdWeights.push(bwdWeights);
      }
    }
    if (keep) cpu.native.push(cpuMs(cpu0));
    const s = conv.stats();
    if (keep) reorderShare.push(s.reorderMs / (s.reorderMs + s.computeMs));
    cpu0 = process.cpuUsage();
    for (const [i, l] of layers.entries()) {
      const d = data[i];
      const x = tensor(l.spec.x, d.x);
      const w = tensor(l.spec.w, d.w);
      let t0 = performance.now();
      await forwardSessions[i].run({ x, w });
      const fwd = performance.now() - t0;
      t0 = performance.now();
      await trainSessions[i].run({ x, w, dy: tensor(d.yShape, d.dy) });
      const total = performance.now() - t0;
      if (keep) {
        onnx[i].fwd.push(fwd);
        onnx[i].total.push(total);
      }
    }
    if (keep) cpu.onnx.push(cpuMs(cpu0));
    const theirs = await torch.ask<Record<string, [number, number]>>('layers');
    if (keep) cpu.torch.push(theirs._cpu[1]);
    if (keep) layers.forEach((l, i) => (torchTimes[i].fwd.push(theirs[l.name][0]), torchTimes[i].total.push(theirs[l.name][1])));
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
  await Promise.all([...forwardSessions, ...trainSessions].map((s) => s.release()));
  await step?.release();

  console.log(
    `\nResNet18 convolutions, batch ${batch}, ${size}x${size}, ${threads} threads, medians of ${rounds} rounds (ms per layer; "both" = forward + backward)` +
      `\nONNX side: ${blocked ? `blocked layout (block ${blocked.block}, from ${blocked.minSize} px)` : 'plain Conv'}; oneDNN ${conv.info().dnnl}; load average ${os.loadavg()[0].toFixed(2)}`,
  );
  console.log(
    `${'layer'.padEnd(22)} x  ${'dnnl fwd'.padStart(8)} ${'bwd-d'.padStart(7)} ${'bwd-w'.padStart(7)} ${'both'.padStart(7)} | ${'onnx fwd'.padStart(8)} ${'both'.padStart(7)} | ${'torch fwd'.padStart(9)} ${'both'.padStart(7)} | dnnl/onnx dnnl/torch`,
  );
  const totals = { native: 0, nativeFwd: 0, onnx: 0, onnxFwd: 0, torch: 0, torchFwd: 0 };
  layers.forEach((l, i) => {
    const n = t.native[i];
    const nf = median(n.fwd);
    const nb = median(n.fwd.map((f, k) => f + n.bwdData[k] + n.bwdWeights[k]));
    const of = median(onnx[i].fwd);
    const ob = median(onnx[i].total);
    const tf = median(torchTimes[i].fwd);
    const tb = median(torchTimes[i].total);
    totals.native += nb * l.times;
    totals.nativeFwd += nf * l.times;
    totals.onnx += ob * l.times;
    totals.onnxFwd += of * l.times;
    totals.torch += tb * l.times;
    totals.torchFwd += tf * l.times;
    console.log(
      `${l.name.padEnd(22)} ${l.times}  ${fmt(nf).padStart(8)} ${l.inputGrad ? fmt(median(n.bwdData)) : '      -'} ${fmt(median(n.bwdWeights))} ${fmt(nb)} | ${fmt(of).padStart(8)} ${fmt(ob)} | ${fmt(tf).padStart(9)} ${fmt(tb)} | ${(ob / nb).toFixed(2).padStart(9)} ${(tb / nb).toFixed(2).padStart(10)}`,
    );
  });
  console.log(
    `${'all 20 layers'.padEnd(22)}    ${fmt(totals.nativeFwd).padStart(8)} ${''.padStart(15)} ${fmt(totals.native)} | ${fmt(totals.onnxFwd).padStart(8)} ${fmt(totals.onnx)} | ${fmt(totals.torchFwd).padStart(9)} ${fmt(totals.torch)} | ${(totals.onnx / totals.native).toFixed(2).padStart(9)} ${(totals.torch / totals.native).toFixed(2).padStart(10)}`,
  );
  console.log(
    `process CPU time of one pass over the 11 shapes (all threads, each shape once; spinning threads count): oneDNN ${fmt(median(cpu.native)).trim()} ms, ONNX Runtime ${fmt(median(cpu.onnx)).trim()} ms, PyTorch ${fmt(median(cpu.torch)).trim()} ms`,
  );
  const share = median(reorderShare);
  console.log(
    `oneDNN time in reorders between NCHW and its blocked layouts: ${(share * 100).toFixed(0)}% (an all-native step keeping the blocked layout saves up to ${fmt(totals.native * share).trim()} ms)`,
  );
  if (!step) return;
  const onnxStep = median(steps.onnx);
  const torchStep = median(steps.torch);
  const implied = onnxStep - totals.onnx + totals.native;
  const rate = (ms: number) => `${((batch * 1000) / ms).toFixed(1)} img/s`;
  console.log(`\nwhole fine-tune step (forward, backward, SGD), batch ${batch}: medians of ${rounds}`);
  console.log(
    `  headstart (ONNX Runtime)  ${fmt(onnxStep)} ms  ${rate(onnxStep)}; its convolutions measured alone: ${fmt(totals.onnx).trim()} ms = ${((totals.onnx / onnxStep) * 100).toFixed(0)}% of the step`,
  );
  console.log(
    `  PyTorch                   ${fmt(torchStep)} ms  ${rate(torchStep)}; its convolutions measured alone: ${fmt(totals.torch).trim()} ms = ${((totals.torch / torchStep) * 100).toFixed(0)}% of the step`,
  );
  console.log(
    `  implied with oneDNN convs ${fmt(implied)} ms  ${rate(implied)} (step - ONNX convs + oneDNN convs) = ${(torchStep / implied).toFixed(2)}x PyTorch (today ${(torchStep / onnxStep).toFixed(2)}x);` +
      ` everything but the convolutions costs ${fmt(onnxStep - totals.onnx).trim()} ms here, ${fmt(torchStep - totals.torch).trim()} ms in PyTorch`,
  );
  console.log(`  process CPU time of one step (all threads): headstart ${fmt(median(steps.onnxCpu)).trim()} ms, PyTorch ${fmt(median(steps.torchCpu)).trim()} ms`);
  if (totals.onnx > onnxStep) console.log('  (the convolutions alone took longer than the step: the machine is loaded or the isolated graphs pay extra copies; the bound is not meaningful)');
}

for (const batch of batches) await benchBatch(batch);
