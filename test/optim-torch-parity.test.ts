/**
 * Our optimisers and schedulers against torch.optim 1.13 (scripts/optim_reference.py): the same
 * initial parameters, a fixed sequence of 30 gradients (some parameters skipped on some steps),
 * the same configuration; parameters must agree to 1e-6 relative (max-norm per tensor) after
 * every step, learning rates and momenta to 1e-12.
 */
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Adam, AdamW } from '../src/optim/adam.js';
import { CosineAnnealingLR } from '../src/optim/cosine-annealing-lr.js';
import { FixedLR } from '../src/optim/fixed-lr.js';
import { LinearWarmup } from '../src/optim/linear-warmup.js';
import type { LrScheduler } from '../src/optim/lr-scheduler.js';
import { OneCycleLR } from '../src/optim/one-cycle-lr.js';
import type { Optimizer, Param } from '../src/optim/optimizer.js';
import { SGD } from '../src/optim/sgd.js';
import { StepLR } from '../src/optim/step-lr.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'scripts', 'optim_reference.py');
const STEPS = 30;
const PARAM_RTOL = 1e-6;
const LR_RTOL = 1e-12;

type Options = Record<string, unknown>;
interface Case {
  name: string;
  optimizer: Options & { type: 'sgd' | 'adam' | 'adamw' };
  /** Group overrides; `params` are names. */
  groups: Array<Options & { params: string[] }>;
  scheduler?: Options & { type: 'fixed' | 'step' | 'cosine' | 'onecycle'; warmup?: { steps: number; startFactor?: number } };
}

interface StepRecord {
  params: Record<string, number[]>;
  lr: number[];
  momentum: number[];
}
interface Trajectory {
  initial: { lr: number[]; momentum: number[] };
  steps: StepRecord[];
}

/** mulberry32: a small seeded generator, so the fixture is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SHAPES: Record<string, number> = { 'conv.weight': 54, 'conv.bias': 3, 'fc.weight': 24, 'fc.bias': 4 };
const ALL = Object.keys(SHAPES);
const BACKBONE = ['conv.weight', 'conv.bias'];
const HEAD = ['fc.weight', 'fc.bias'];

function fixture(): { init: Record<string, number[]>; grads: Array<Record<string, number[]>> } {
  const r = rng(1234);
  const f32 = (x: number) => Math.fround(x);
  const init = Object.fromEntries(ALL.map((n) => [n, Array.from({ length: SHAPES[n] }, () => f32(r() * 2 - 1))]));
  const grads = Array.from({ length: STEPS }, (_, k) => {
    const g: Record<string, number[]> = {};
    for (const n of ALL) {
      // Skips exercise "no gradient this step": conv.bias starts late, fc.bias misses every 4th step.
      if ((n === 'conv.bias' && k < 2) || (n === 'fc.bias' && k % 4 === 2)) continue;
      g[n] = Array.from({ length: SHAPES[n] }, () => f32((r() * 2 - 1) * (1 + (k % 3))));
    }
    return g;
  });
  return { init, grads };
}

const twoGroups = (backbone: Options, head: Options) => [
  { params: BACKBONE, ...backbone },
  { params: HEAD, ...head },
];
const oneGroup = [{ params: ALL }];

const CASES: Case[] = [
  // optimisers
  { name: 'SGD plain', optimizer: { type: 'sgd', lr: 0.1 }, groups: oneGroup },
  { name: 'SGD momentum', optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 }, groups: oneGroup },
  { name: 'SGD nesterov', optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true }, groups: oneGroup },
  { name: 'SGD weight decay', optimizer: { type: 'sgd', lr: 0.1, weightDecay: 0.01 }, groups: oneGroup },
  { name: 'SGD momentum + weight decay', optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 5e-4 }, groups: oneGroup },
  { name: 'SGD nesterov + weight decay', optimizer: { type: 'sgd', lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 1e-3 }, groups: oneGroup },
  { name: 'SGD dampening', optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9, dampening: 0.3 }, groups: oneGroup },
  { name: 'Adam', optimizer: { type: 'adam', lr: 0.01 }, groups: oneGroup },
  { name: 'Adam weight decay (L2)', optimizer: { type: 'adam', lr: 0.01, weightDecay: 0.01 }, groups: oneGroup },
  { name: 'Adam amsgrad', optimizer: { type: 'adam', lr: 0.01, amsgrad: true, weightDecay: 1e-3 }, groups: oneGroup },
  { name: 'AdamW', optimizer: { type: 'adamw', lr: 0.01, weightDecay: 0.05 }, groups: oneGroup },
  {
    name: 'AdamW amsgrad, betas, eps',
    optimizer: { type: 'adamw', lr: 0.02, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true },
    groups: oneGroup,
  },
  {
    name: 'SGD two groups (discriminative lrs, per-group decay)',
    optimizer: { type: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 1e-3 },
    groups: twoGroups({ lr: 0.01 }, { weightDecay: 0 }),
  },
  {
    name: 'AdamW two groups (lrs, betas)',
    optimizer: { type: 'adamw', lr: 0.01, weightDecay: 0.01 },
    groups: twoGroups({ lr: 1e-3, betas: [0.85, 0.995] }, {}),
  },
  // schedulers (two groups: per-group base lrs)
  ...schedulerCases(),
];

function schedulerCases(): Case[] {
  const sgd = { type: 'sgd' as const, lr: 0.1, momentum: 0.9 };
  const groups = twoGroups({ lr: 0.01 }, {});
  const mk = (name: string, scheduler: Case['scheduler'], optimizer: Case['optimizer'] = sgd): Case => ({
    name,
    optimizer,
    groups,
    scheduler,
  });
  return [
    mk('StepLR', { type: 'step', stepSize: 4, gamma: 0.5 }),
    mk('StepLR + warm-up', { type: 'step', stepSize: 4, gamma: 0.5, warmup: { steps: 5, startFactor: 0.1 } }),
    mk('CosineAnnealingLR (past tMax)', { type: 'cosine', tMax: 20, etaMin: 1e-4 }),
    mk('CosineAnnealingLR + warm-up', { type: 'cosine', tMax: 27, warmup: { steps: 3 } }),
    mk('no schedule + warm-up', { type: 'fixed', warmup: { steps: 4, startFactor: 0.25 } }),
    mk('OneCycleLR on plain SGD (momentum cycling turns it on)', { type: 'onecycle', totalSteps: 30 }, { type: 'sgd', lr: 0.1 }),
    mk('OneCycleLR three-phase, linear', { type: 'onecycle', totalSteps: 32, threePhase: true, anneal: 'linear', pctStart: 0.25 }),
    mk('OneCycleLR Adam (beta1 cycles), per-group maxLr', { type: 'onecycle', totalSteps: 30, maxLr: [0.005, 0.05] }, { type: 'adam', lr: 0.01 }),
    mk('OneCycleLR AdamW, no momentum cycling', { type: 'onecycle', totalSteps: 30, maxLr: 0.02, cycleMomentum: false, divFactor: 10, finalDivFactor: 100 }, { type: 'adamw', lr: 0.01 }),
    mk('OneCycleLR + warm-up', { type: 'onecycle', totalSteps: 25, warmup: { steps: 5, startFactor: 0.5 } }),
  ];
}

function buildOptimizer(c: Case, params: Map<string, Param>): Optimizer {
  const groups = c.groups.map(({ params: names, ...rest }) => ({ params: names.map((n) => params.get(n)!), ...rest }));
  const { type, ...options } = c.optimizer;
  if (type === 'sgd') return new SGD(groups, options);
  if (type === 'adam') return new Adam(groups, options);
  return new AdamW(groups, options);
}

function buildScheduler(c: Case, optimizer: Optimizer): LrScheduler | undefined {
  if (c.scheduler === undefined) return undefined;
  const { type, warmup, ...options } = c.scheduler;
  let inner: LrScheduler;
  if (type === 'fixed') inner = new FixedLR(optimizer);
  else if (type === 'step') inner = new StepLR(optimizer, options as never);
  else if (type === 'cosine') inner = new CosineAnnealingLR(optimizer, options as never);
  else inner = new OneCycleLR(optimizer, options as never);
  return warmup ? new LinearWarmup(inner, warmup) : inner;
}

function runOurs(c: Case, fx: ReturnType<typeof fixture>): Trajectory {
  const params = new Map(ALL.map((n) => [n, { name: n, data: Float32Array.from(fx.init[n]) }]));
  const optimizer = buildOptimizer(c, params);
  const scheduler = buildScheduler(c, optimizer);
  const out: Trajectory = { initial: { lr: optimizer.getLr(), momentum: optimizer.getMomentum() }, steps: [] };
  for (const g of fx.grads) {
    optimizer.step(new Map(Object.entries(g).map(([n, v]) => [n, Float32Array.from(v)])));
    scheduler?.step();
    out.steps.push({
      params: Object.fromEntries([...params].map(([n, p]) => [n, Array.from(p.data)])),
      lr: optimizer.getLr(),
      momentum: optimizer.getMomentum(),
    });
  }
  return out;
}

function torchSpec(c: Case, fx: ReturnType<typeof fixture>): unknown {
  return {
    params: ALL.map((n) => ({ name: n, data: fx.init[n] })),
    groups: c.groups,
    optimizer: c.optimizer,
    scheduler: c.scheduler ?? null,
    grads: fx.grads,
  };
}

function relMaxErr(a: readonly number[], b: readonly number[]): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

function assertClose(ours: readonly number[], ref: readonly number[], rtol: number, what: string): void {
  assert.equal(ours.length, ref.length, `${what}: length`);
  for (let i = 0; i < ref.length; i++) {
    const tol = rtol * Math.max(Math.abs(ref[i]), 1e-12);
    assert.ok(Math.abs(ours[i] - ref[i]) <= tol, `${what}[${i}]: ours ${ours[i]}, torch ${ref[i]}`);
  }
}

// One torch process for every case (its import dominates). Only a missing python or torch skips;
// any other failure of the script fails the tests.
const FX = fixture();
const reference = spawnSync(PYTHON, [SCRIPT], {
  input: JSON.stringify(CASES.map((c) => torchSpec(c, FX))),
  encoding: 'utf8',
  maxBuffer: 64 << 20,
});
const noTorch = reference.error !== undefined || /No module named 'torch'/.test(reference.stderr ?? '');
const skip = noTorch ? `needs PyTorch 1.13 at ${PYTHON} (${reference.error ? String(reference.error) : 'import torch failed'})` : false;

describe('optimisers and schedulers match torch.optim', { skip }, () => {
  let refs: Trajectory[] = [];

  before(() => {
    assert.equal(reference.status, 0, `optim_reference.py failed: ${reference.stderr}`);
    refs = JSON.parse(reference.stdout) as Trajectory[];
    assert.equal(refs.length, CASES.length);
  });

  CASES.forEach((c, ci) => {
    test(c.name, (t) => {
      const ref = refs[ci];
      const ours = runOurs(c, FX);
      assertClose(ours.initial.lr, ref.initial.lr, LR_RTOL, 'initial lr');
      assertClose(ours.initial.momentum, ref.initial.momentum, LR_RTOL, 'initial momentum');
      let worst = 0;
      ref.steps.forEach((rs, k) => {
        const os = ours.steps[k];
        assertClose(os.lr, rs.lr, LR_RTOL, `step ${k + 1} lr`);
        assertClose(os.momentum, rs.momentum, LR_RTOL, `step ${k + 1} momentum`);
        for (const n of ALL) {
          const e = relMaxErr(os.params[n], rs.params[n]);
          worst = Math.max(worst, e);
          assert.ok(e <= PARAM_RTOL, `step ${k + 1} \`${n}\`: relative max error ${e.toExponential(2)} > ${PARAM_RTOL}`);
        }
      });
      // The parameters must actually move, or the comparison proves nothing.
      const moved = relMaxErr(ours.steps[STEPS - 1].params['fc.weight'], FX.init['fc.weight']);
      assert.ok(moved > 1e-3, `fc.weight barely moved (${moved})`);
      t.diagnostic(`worst relative error ${worst.toExponential(2)}`);
    });
  });
});
