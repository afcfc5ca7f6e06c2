/**
 * Inference throughput of every registered architecture: ONNX Runtime running our graph
 * (buildInferenceGraph, parameters embedded so BatchNorm folds into the convs) vs PyTorch
 * running torchvision's module, in the same run, same batch, same threads, random weights,
 * 224x224. PyTorch (scripts/models_bench.py, torch.no_grad, eval) runs with DESIGN.md's
 * tuned malloc, in three variants: eager NCHW (the plain module), channels_last, and
 * TorchScript (trace + optimize_for_inference: BN folded, oneDNN). The ratio is against
 * the fastest of them (the strongest baseline). Per architecture: --warmup untimed runs,
 * then --runs timed ones; medians of wall time (images/s) and of CPU time (CPU-s per image,
 * less disturbed on a shared machine). The last line is one JSON object mapping each
 * architecture with a torchvision counterpart to ours / PyTorch's images/s.
 *
 *   npm run bench:models -- [--batch 16] [--runs 5] [--warmup 2] [--threads N] [--models a,b] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, IO } from '../src/engine/training-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel, listModels } from '../src/models/registry.js';
import { Random } from '../src/random.js';

const { values: args } = parseArgs({
  options: {
    batch: { type: 'string', default: '16' },
    runs: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: `${os.availableParallelism()}` },
    models: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const BATCH = Number(args.batch);
const RUNS = Number(args.runs);
const WARMUP = Number(args.warmup);
const THREADS = Number(args.threads);
const SIZE = 224;
const VARIANTS = ['eager', 'channels_last', 'jit'] as const;
const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Timing {
  /** Median images/s over the timed runs (wall clock). */
  imagesPerSecond: number;
  /** Median CPU milliseconds per image. */
  cpuMsPerImage?: number;
}

async function ours(name: string): Promise<Timing> {
  const spec = getModel(name);
  const probe = buildInferenceGraph(spec, { batch: BATCH, numClasses: 1000 });
  const graph = buildInferenceGraph(spec, { batch: BATCH, numClasses: 1000, constants: initParams(probe.params, 0) });
  const session = await Session.create(graph.bytes, { threads: THREADS, label: name });
  const rng = new Random(1);
  const images = { dtype: 'float32' as const, shape: [BATCH, 3, SIZE, SIZE], data: Float32Array.from({ length: BATCH * 3 * SIZE * SIZE }, () => rng.normal()) };
  for (let i = 0; i < WARMUP; i++) await session.run({ [IO.images]: images });
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await session.run({ [IO.images]: images });
    wall.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  await session.release();
  return { imagesPerSecond: BATCH / median(wall), cpuMsPerImage: median(cpu) / BATCH };
}

type TorchResult = { skip: string } | { variants: Record<string, Timing> };

function pytorch(name: string): TorchResult {
  const run = spawnSync('/usr/bin/python3', [path.join(root, 'scripts/models_bench.py'), name, `${BATCH}`, `${THREADS}`, `${WARMUP}`, `${RUNS}`, ...VARIANTS], {
    encoding: 'utf8',
    env: { ...process.env, ...TUNED_MALLOC },
    maxBuffer: 16 << 20,
  });
  if (run.status !== 0) return { skip: `PyTorch failed: ${run.stderr.trim().split('\n').pop()}` };
  const out = JSON.parse(run.stdout) as { skip?: string; variants: Record<string, number[]>; cpu?: Record<string, number[]> };
  if (out.skip) return { skip: out.skip };
  const variants: Record<string, Timing> = {};
  for (const [v, seconds] of Object.entries(out.variants)) variants[v] = { imagesPerSecond: BATCH / median(seconds), cpuMsPerImage: out.cpu ? (median(out.cpu[v]) * 1000) / BATCH : undefined };
  return { variants };
}

const names = args.models ? args.models.split(',') : listModels().map((m) => m.name);
console.log(`models at ${SIZE}x${SIZE}, batch ${BATCH}, ${THREADS} threads, ${WARMUP} warm-up + ${RUNS} timed runs (medians); load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
const header = ['model', 'ours img/s', 'cpu ms/img', ...VARIANTS.map((v) => `torch ${v}`), 'torch cpu ms/img', 'vs eager', 'vs best'];
const rows: string[][] = [header];
const ratios: Record<string, number> = {};
const fmt = (x: number | undefined, d = 1) => (x === undefined ? '-' : x.toFixed(d));
for (const name of names) {
  const a = await ours(name);
  const t: TorchResult = args['no-torch'] ? { skip: '--no-torch' } : pytorch(name);
  if ('skip' in t) {
    rows.push([name, fmt(a.imagesPerSecond), fmt(a.cpuMsPerImage), ...VARIANTS.map(() => '-'), '-', '-', `- (${t.skip})`]);
  } else {
    const best = VARIANTS.map((v) => t.variants[v]).reduce((x, y) => (y.imagesPerSecond > x.imagesPerSecond ? y : x));
    ratios[name] = a.imagesPerSecond / best.imagesPerSecond;
    rows.push([
      name,
      fmt(a.imagesPerSecond),
      fmt(a.cpuMsPerImage),
      ...VARIANTS.map((v) => fmt(t.variants[v].imagesPerSecond)),
      fmt(best.cpuMsPerImage),
      `${(a.imagesPerSecond / t.variants.eager.imagesPerSecond).toFixed(2)}x`,
      `${ratios[name].toFixed(2)}x`,
    ]);
  }
  console.error(`  ${name} done`);
}
const widths = header.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(JSON.stringify(Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v.toFixed(3))]))));
