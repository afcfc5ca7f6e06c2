/**
 * Optimiser step time over ResNet18's 11.7M parameters (62 tensors, 1000-class head), ours vs
 * torch.optim 1.13 in the same run (scripts/optim_bench.py: single-tensor and foreach paths,
 * tuned malloc, 1 thread by default). Ours twice, alternating step by step on one optimiser: the JS
 * loops and the native update (native/headstart_optim.cc, on --threads threads; bit-identical) when
 * it is built. Medians of --steps timed steps after --warmup untimed ones (the first step allocates
 * state), wall time and CPU time (the machine is shared: CPU time is less disturbed by other processes).
 *
 *   node --import tsx bench/optim.ts [--steps 7] [--warmup 2] [--threads 1] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Adam, AdamW } from '../src/optim/adam.js';
import { loadNativeOptim } from '../src/optim/native-optim.js';
import type { Optimizer, Param } from '../src/optim/optimizer.js';
import { SGD } from '../src/optim/sgd.js';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '7' },
    warmup: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const STEPS = Number(args.steps);
const WARMUP = Number(args.warmup);
const THREADS = Number(args.threads);
const NATIVE = loadNativeOptim();
if ('addon' in NATIVE) NATIVE.addon.setThreads(THREADS);

/** torchvision resnet18's parameter shapes (convs have no bias; BN weight and bias). */
function resnet18Shapes(): number[][] {
  const shapes: number[][] = [[64, 3, 7, 7], [64], [64]];
  let cin = 64;
  for (const [cout, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ]) {
    for (let block = 0; block < 2; block++) {
      const first = block === 0;
      shapes.push([cout, first ? cin : cout, 3, 3], [cout], [cout], [cout, cout, 3, 3], [cout], [cout]);
      if (first && (stride !== 1 || cin !== cout)) shapes.push([cout, cin, 1, 1], [cout], [cout]);
    }
    cin = cout;
  }
  shapes.push([1000, 512], [1000]);
  return shapes;
}

function fill(n: number, seed: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale;
  }
  return a;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Variant {
  name: string;
  make: (params: Param[]) => Optimizer;
  torch: { type: 'sgd' | 'adam' | 'adamw'; options: Record<string, unknown> };
}

const VARIANTS: Variant[] = [
  {
    name: 'SGD momentum 0.9',
    make: (p) => new SGD([{ params: p }], { lr: 1e-3, momentum: 0.9 }),
    torch: { type: 'sgd', options: { lr: 1e-3, momentum: 0.9 } },
  },
  {
    name: 'SGD nesterov + wd 1e-4',
    make: (p) => new SGD([{ params: p }], { lr: 1e-3, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
    torch: { type: 'sgd', options: { lr: 1e-3, momentum: 0.9, nesterov: true, weight_decay: 1e-4 } },
  },
  {
    name: 'Adam',
    make: (p) => new Adam([{ params: p }], { lr: 1e-3 }),
    torch: { type: 'adam', options: { lr: 1e-3 } },
  },
  {
    name: 'AdamW wd 1e-2',
    make: (p) => new AdamW([{ params: p }], { lr: 1e-3, weightDecay: 1e-2 }),
    torch: { type: 'adamw', options: { lr: 1e-3, weight_decay: 1e-2 } },
  },
];

interface Times {
  wall: number[];
  cpu: number[];
}

function benchOurs(shapes: number[][]): Map<string, { js: Times; native: Times | null }> {
  const params = shapes.map((s, i) => ({
    name: `p${i}`,
    data: fill(
      s.reduce((a, b) => a * b, 1),
      i + 1,
      2,
    ),
  }));
  const grads = new Map(params.map((p, i) => [p.name, fill(p.data.length, 1000 + i, 2e-2)]));
  const out = new Map<string, { js: Times; native: Times | null }>();
  const addon = 'addon' in NATIVE ? NATIVE.addon : null;
  for (const v of VARIANTS) {
    const opt = v.make(params);
    for (let k = 0; k < WARMUP; k++) opt.step(grads);
    const js: Times = { wall: [], cpu: [] };
    const native: Times = { wall: [], cpu: [] };
    // A/B alternating on one optimiser (both kernels compute the same bits, so the state stays one run's).
    for (let k = 0; k < STEPS; k++) {
      for (const [kernel, times] of [[null, js], ...(addon ? [[addon, native] as const] : [])] as const) {
        (opt as Optimizer & { native: typeof addon }).native = kernel;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        opt.step(grads);
        times.wall.push((performance.now() - t0) / 1000);
        const c = process.cpuUsage(c0);
        times.cpu.push((c.user + c.system) / 1e6);
      }
    }
    out.set(v.name, { js, native: addon ? native : null });
  }
  return out;
}

function benchTorch(shapes: number[][]): Record<string, Times> | string {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'optim_bench.py');
  const spec = {
    steps: STEPS,
    warmup: WARMUP,
    threads: THREADS,
    shapes,
    variants: VARIANTS.map((v) => ({ name: v.name, ...v.torch })),
  };
  const r = spawnSync('/usr/bin/python3', [script], {
    input: JSON.stringify(spec),
    encoding: 'utf8',
    maxBuffer: 16 << 20,
    // The tuned-malloc environment DESIGN.md found fastest for Debian's torch.
    env: { ...process.env, MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' },
  });
  if (r.status !== 0) return `torch run failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()}`;
  return JSON.parse(r.stdout) as Record<string, Times>;
}

const shapes = resnet18Shapes();
const total = shapes.reduce((acc, s) => acc + s.reduce((a, b) => a * b, 1), 0);
console.log(`optimiser step over ResNet18's parameters: ${shapes.length} tensors, ${total.toLocaleString('en')} values; ${STEPS} timed steps after ${WARMUP} warm-up, medians`);
const ours = benchOurs(shapes);
const torch = args['no-torch'] ? 'skipped (--no-torch)' : benchTorch(shapes);
const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
// Wall time, and CPU time (less sensitive to other processes on a shared machine).
const cell = (t: Times) => `${ms(median(t.wall))} (cpu ${ms(median(t.cpu))})`;
const rows = VARIANTS.map((v) => {
  const { js, native } = ours.get(v.name)!;
  const o = native ?? js;
  const mine = {
    variant: v.name,
    'headstart JS': cell(js),
    [`headstart native (${THREADS} thr)`]: native ? cell(native) : 'not built',
    'JS / native (cpu)': native ? `${(median(js.cpu) / median(native.cpu)).toFixed(2)}x` : '-',
  };
  if (typeof torch === 'string') return mine;
  const single = torch[`${v.name}/single`];
  const foreach = torch[`${v.name}/foreach`];
  const best = Math.min(median(single.wall), median(foreach.wall));
  return {
    ...mine,
    'torch single-tensor': cell(single),
    'torch foreach': cell(foreach),
    'best torch / ours (wall)': `${(best / median(o.wall)).toFixed(2)}x`,
  };
});
console.table(rows);
if (typeof torch === 'string') console.log(`torch: ${torch}`);
else
  console.log(
    `torch 1.13 CPU, ${THREADS} thread(s), tuned malloc; ours: the JS loops on one thread, and the native update on ${THREADS} thread(s); "ours" in the last column is the native update where built`,
  );
console.log(`native update: ${'addon' in NATIVE ? NATIVE.file : NATIVE.reason}`);
