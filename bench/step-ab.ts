/**
 * A/B of training-step variants in one process: the same model, batch and parameters, one
 * session per variant, steps alternating between them so machine noise hits every variant
 * alike; prints the median and worst step of each (a development tool for the engine levers
 * of issue 10; ratios against PyTorch come from bench:engine on a quiet machine).
 * MODEL=resnet18 B=16 SIZE=224 ROUNDS=7 VARIANTS=plain,blocked28,blocked14 node --import tsx bench/step-ab.ts
 * Variants: plain, blocked<min size> (e.g. blocked28: blocked convs at inputs of 28 px and more),
 * each optionally with +daz (denormals as zero), +nospin (no intra-op spinning) and/or +slice
 * (kernel flips by Slice step -1 instead of the anti-identity MatMul), e.g. plain+nospin,
 * +subconv (strided input gradients as sub-convolutions + DepthToSpace instead of ConvTranspose),
 * +nopattern / +noarena (ONNX Runtime's memory-pattern planner / CPU arena off), +pattern (the
 * memory-pattern planner on; training sessions default to off, see src/graphs/training-session.ts).
 * Per variant: median and worst step (wall), median CPU-ms per step, minor page faults and GC ms
 * per step, and the same for the worst step; STEPS=1 lists every step. WARMUP=2 untimed steps
 * first (ONNX Runtime allocates its memory-pattern block on the second run).
 */
import os from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { blockedConvLayout } from '../src/engine/blocked-layout.js';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random, randomInt } from '../src/random.js';

const spec = getModel(process.env.MODEL ?? 'resnet18');
const B = Number(process.env.B ?? 16);
const size = Number(process.env.SIZE ?? spec.preprocess.inputSize);
const rounds = Number(process.env.ROUNDS ?? 7);
const threads = Number(process.env.THREADS ?? os.availableParallelism());
const warmup = Number(process.env.WARMUP ?? 2);
const variants = (process.env.VARIANTS ?? 'plain,blocked28').split(',');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const layout = await blockedConvLayout({ HEADSTART_BLOCKED_CONV: '1' });
const trainable = () => true;
const probe = buildTrainingGraph(spec, { batch: B, numClasses: 1000, inputSize: size, trainable });
const rng = new Random(0);
const images = Float32Array.from({ length: B * 3 * size * size }, () => rng.normal());
const targets = crossEntropyCoefficients(
  Array.from({ length: B }, () => randomInt(rng, 0, 1000)),
  1000,
);
// Dropout masks for the models that have dropout (mobilenet_v2, efficientnet_b0).
const dropout = new Random(1);
const sessions: { name: string; session: TrainingSession; times: number[]; cpu: number[]; faults: number[]; windows: [number, number][] }[] = [];
// Garbage collections (V8's 'gc' performance entries), attributed to the step they fall in.
const gcs: { start: number; duration: number; kind: number }[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, duration: e.duration, kind: (e as PerformanceEntry & { detail: { kind: number } }).detail.kind });
});
gcObserver.observe({ entryTypes: ['gc'] });
for (const v of variants) {
  const [base, ...flags] = v.split('+');
  const m = /^blocked(\d+)$/.exec(base);
  if (m && !layout) throw new Error('the blocked-layout self-test failed on this machine');
  const params = initParams(probe.params, 0);
  if (flags.includes('slice')) process.env.HEADSTART_FLIP_SLICE = '1';
  process.env.HEADSTART_STRIDED_DX = flags.includes('subconv') ? 'subconv' : 'convtranspose';
  if (flags.includes('dwtaps')) process.env.HEADSTART_DEPTHWISE_DW = 'taps';
  const graph = buildTrainingGraph(spec, { batch: B, numClasses: 1000, inputSize: size, trainable, blocked: m ? { block: layout!.block, minSize: Number(m[1]) } : undefined });
  delete process.env.HEADSTART_FLIP_SLICE;
  delete process.env.HEADSTART_STRIDED_DX;
  delete process.env.HEADSTART_DEPTHWISE_DW;
  const config: Record<string, string> = {};
  if (flags.includes('daz')) config['session.set_denormal_as_zero'] = '1';
  if (flags.includes('nospin')) config['session.intra_op.allow_spinning'] = '0';
  const session = await TrainingSession.create(graph, params, {
    threads,
    config,
    memPattern: flags.includes('pattern') ? true : flags.includes('nopattern') ? false : undefined,
    memArena: !flags.includes('noarena'),
  });
  for (let i = 0; i < warmup; i++) await session.step(images, targets, dropout);
  sessions.push({ name: v, session, times: [], cpu: [], faults: [], windows: [] });
}
for (let r = 0; r < rounds; r++) {
  for (const s of sessions) {
    const faults = process.resourceUsage().minorPageFault;
    const t = performance.now();
    const c = process.cpuUsage();
    await s.session.step(images, targets, dropout);
    const end = performance.now();
    s.times.push(end - t);
    s.windows.push([t, end]);
    const used = process.cpuUsage(c);
    s.cpu.push((used.user + used.system) / 1000);
    s.faults.push(process.resourceUsage().minorPageFault - faults);
  }
}
console.log(
  `${spec.name} ${size}px batch ${B}, ${threads} threads, ${rounds} alternating rounds, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}, peak RSS of the process ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
);
await new Promise((resolve) => setTimeout(resolve, 10)); // let the observer deliver the last entries
gcObserver.disconnect();
const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };
const gcMs = (w: [number, number]) => gcs.filter((g) => g.start >= w[0] && g.start < w[1]).reduce((a, g) => a + g.duration, 0);
for (const s of sessions) {
  const med = median(s.times);
  const cpu = median(s.cpu);
  const worst = s.times.indexOf(Math.max(...s.times));
  console.log(
    `${s.name.padEnd(12)} median ${med.toFixed(0).padStart(6)} ms  worst ${Math.max(...s.times)
      .toFixed(0)
      .padStart(6)} ms  ${((B * 1000) / med).toFixed(2).padStart(7)} img/s  cpu ${cpu.toFixed(0).padStart(6)} ms/step  ` +
      `faults ${median(s.faults).toFixed(0).padStart(6)}/step  gc ${median(s.windows.map(gcMs)).toFixed(1)} ms/step (worst step: ${s.faults[worst]} faults, gc ${gcMs(s.windows[worst]).toFixed(1)} ms, cpu ${s.cpu[worst].toFixed(0)} ms)`,
  );
  if (process.env.STEPS === '1') {
    console.log(`  steps ms:     ${s.times.map((t) => t.toFixed(0)).join(' ')}`);
    console.log(`  steps cpu ms: ${s.cpu.map((t) => t.toFixed(0)).join(' ')}`);
    console.log(`  steps faults: ${s.faults.join(' ')}`);
    console.log(
      `  steps gc:     ${s.windows
        .map(
          (w) =>
            gcs
              .filter((g) => g.start >= w[0] && g.start < w[1])
              .map((g) => `${GC_KINDS[g.kind] ?? g.kind}:${g.duration.toFixed(0)}`)
              .join('+') || '-',
        )
        .join(' ')}`,
    );
  }
}
