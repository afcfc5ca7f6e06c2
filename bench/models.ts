/**
 * Inference throughput of every registered architecture: ONNX Runtime running our graph
 * (buildInferenceGraph, parameters embedded so BatchNorm folds into the convs) vs PyTorch
 * running torchvision's module, in the same run: same batch, same threads, 224x224, and the
 * same weights (random, BatchNorm statistics calibrated by the python side, which saves
 * them for us: activations of realistic magnitude, as with pretrained weights). PyTorch (scripts/models_bench.py, torch.no_grad, eval) runs with DESIGN.md's
 * tuned malloc, in three variants: eager NCHW (the plain module), channels_last, and
 * TorchScript (trace + optimize_for_inference: BN folded, oneDNN). Ratios are against eager
 * and against the fastest variant (the strongest baseline); the JSON line uses the one
 * --baseline names (default 'best'; 'eager' is the plain torchvision module).
 *
 * The machine is shared, so the engines run in lockstep: each round runs ours once and each
 * PyTorch variant once (a persistent python process answers one run per request), and a
 * burst of load falls on both. --warmup untimed rounds, then --runs timed ones; medians of
 * wall time (images/s) and of CPU time per image (which load disturbs less).
 * The last line is one JSON object mapping each architecture with a torchvision
 * counterpart to ours / PyTorch's images/s.
 *
 * An architecture without a torchvision counterpart runs alone, with its built-in weights
 * where it has some (mobilenet_v2_offline), else fresh ones.
 *
 *   npm run bench:models -- [--batch 16] [--runs 5] [--warmup 2] [--threads N] [--models a,b]
 *                           [--baseline best|eager] [--no-torch]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, IO } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel, listModels } from '../src/models/registry.js';
import { Random } from '../src/random.js';
import type { NamedTensors } from '../src/tensor.js';
import { loadSafetensors } from '../src/weights/safetensors.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '16' },
    runs: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: `${os.availableParallelism()}` },
    models: { type: 'string' },
    baseline: { type: 'string', default: 'best' },
    'no-torch': { type: 'boolean', default: false },
  },
});
if (args.baseline !== 'best' && args.baseline !== 'eager') throw new Error(`--baseline must be best or eager, found ${args.baseline}`);
const BATCH = Number(args.batch);
const RUNS = Number(args.runs);
const WARMUP = Number(args.warmup);
const THREADS = Number(args.threads);
const SIZE = 224;
const VARIANTS = ['eager', 'channels_last', 'jit'] as const;
const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Sample {
  seconds: number;
  cpu: number;
}

/** One engine that can run one timed forward pass at a time. */
interface Runner {
  run(variant: string): Promise<Sample>;
  close(): Promise<void>;
}

/** Our graph with the given weights (else the built-in ones, else fresh ones). */
async function ours(name: string, weights: NamedTensors | undefined): Promise<Runner> {
  const spec = getModel(name);
  const probe = buildInferenceGraph(spec, { batch: BATCH, numClasses: 1000 });
  let constants = weights;
  if (!constants) {
    constants = initParams(probe.params, 0);
    if (spec.builtinWeights) for (const [k, v] of await spec.builtinWeights.load()) constants.set(k, v);
  }
  const graph = buildInferenceGraph(spec, { batch: BATCH, numClasses: 1000, constants });
  const session = await Session.create(graph.bytes, { threads: THREADS, label: name });
  const rng = new Random(1);
  const images = { dtype: 'float32' as const, shape: [BATCH, 3, SIZE, SIZE], data: Float32Array.from({ length: BATCH * 3 * SIZE * SIZE }, () => rng.normal()) };
  return {
    run: async () => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await session.run({ [IO.images]: images });
      const seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      return { seconds, cpu: (c.user + c.system) / 1e6 };
    },
    close: () => session.release(),
  };
}

/** A persistent PyTorch process answering one forward pass per request line. */
async function pytorch(name: string, stateFile: string): Promise<Runner | { skip: string }> {
  const child = spawn('/usr/bin/python3', [path.join(root, 'scripts/models_bench.py'), name, `${BATCH}`, `${THREADS}`, stateFile, ...VARIANTS], {
    env: { ...process.env, ...TUNED_MALLOC },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const line = await lines.next();
    if (line.done) throw new Error(`PyTorch exited: ${stderr.trim().split('\n').pop()}`);
    return JSON.parse(line.value) as Record<string, unknown>;
  };
  const ready = await next();
  if (typeof ready.skip === 'string') {
    child.stdin.end();
    return { skip: ready.skip };
  }
  return {
    run: async (variant) => {
      child.stdin.write(`${variant}\n`);
      const r = await next();
      return { seconds: r.seconds as number, cpu: r.cpu as number };
    },
    close: async () => {
      child.stdin.end();
      await new Promise((resolve) => child.once('close', resolve));
    },
  };
}

interface Timing {
  imagesPerSecond: number;
  cpuMsPerImage: number;
}

const summarise = (samples: Sample[]): Timing => ({ imagesPerSecond: BATCH / median(samples.map((s) => s.seconds)), cpuMsPerImage: (median(samples.map((s) => s.cpu)) * 1000) / BATCH });

const names = args.models ? args.models.split(',') : listModels().map((m) => m.name);
console.log(
  `models at ${SIZE}x${SIZE}, batch ${BATCH}, ${THREADS} threads, ${WARMUP} warm-up + ${RUNS} timed rounds in lockstep (medians); load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
const header = ['model', 'ours img/s', 'ms/img cpu', ...VARIANTS.map((v) => `torch ${v}`), 'torch best ms/img cpu', 'vs eager', 'vs best', 'vs best (cpu)'];
const rows: string[][] = [header];
const ratios: Record<string, number> = {};
const fmt = (x: number) => x.toFixed(1);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'headstart-bench-models-'));
for (const name of names) {
  const stateFile = path.join(tmp, `${name}.safetensors`);
  const t = args['no-torch'] ? { skip: '--no-torch' } : await pytorch(name, stateFile);
  const a = await ours(name, 'skip' in t ? undefined : await loadSafetensors(stateFile));
  rmSync(stateFile, { force: true });
  const mine: Sample[] = [];
  const theirs: Record<string, Sample[]> = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let round = 0; round < WARMUP + RUNS; round++) {
    const s = await a.run('ours');
    if (round >= WARMUP) mine.push(s);
    if ('skip' in t) continue;
    for (const v of VARIANTS) {
      const r = await t.run(v);
      if (round >= WARMUP) theirs[v].push(r);
    }
  }
  await a.close();
  const o = summarise(mine);
  if ('skip' in t) {
    rows.push([name, fmt(o.imagesPerSecond), fmt(o.cpuMsPerImage), ...VARIANTS.map(() => '-'), '-', '-', '-', `- (${t.skip})`]);
  } else {
    await t.close();
    const per = Object.fromEntries(VARIANTS.map((v) => [v, summarise(theirs[v])])) as Record<string, Timing>;
    const best = VARIANTS.map((v) => per[v]).reduce((x, y) => (y.imagesPerSecond > x.imagesPerSecond ? y : x));
    const bestCpu = Math.min(...VARIANTS.map((v) => per[v].cpuMsPerImage));
    ratios[name] = o.imagesPerSecond / (args.baseline === 'eager' ? per.eager : best).imagesPerSecond;
    rows.push([
      name,
      fmt(o.imagesPerSecond),
      fmt(o.cpuMsPerImage),
      ...VARIANTS.map((v) => fmt(per[v].imagesPerSecond)),
      fmt(bestCpu),
      `${(o.imagesPerSecond / per.eager.imagesPerSecond).toFixed(2)}x`,
      `${(o.imagesPerSecond / best.imagesPerSecond).toFixed(2)}x`,
      `${(bestCpu / o.cpuMsPerImage).toFixed(2)}x`,
    ]);
  }
  console.error(`  ${name} done`);
}
const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows)
  console.log(
    r
      .map((cell, c) => (c === 0 || c === r.length - 1 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd(),
  );
rmSync(tmp, { recursive: true, force: true });
console.log(`JSON: ours / PyTorch images/s against ${args.baseline === 'eager' ? 'eager PyTorch' : 'the fastest PyTorch variant'}`);
console.log(
  `load average after: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(JSON.stringify(Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v.toFixed(3))]))));
