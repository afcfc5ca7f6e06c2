/**
 * The native optimiser update (native/headstart_optim.cc) against the JS loops of sgd.ts / adam.ts:
 * several steps of every SGD option combination, Adam and AdamW (amsgrad on and off) on random
 * tensors of odd lengths, one large enough to be split over threads; parameters, momentum buffers and
 * moments must be equal bit for bit. Skips (saying why) where the addon is not built.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Adam, AdamW } from '../src/optim/adam.js';
import { loadNativeOptim, type NativeOptimAddon } from '../src/optim/native-optim.js';
import type { Optimizer, Param } from '../src/optim/optimizer.js';
import { SGD } from '../src/optim/sgd.js';

const native = loadNativeOptim();
const skip = 'addon' in native ? false : native.reason;

/** Lengths: tiny, odd, a remainder of the unrolled JS loops, and one split over threads (> 2^18). */
const LENGTHS = [1, 3, 7, 1001, 300_007];

function random(n: number, seed: number, scale: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale;
  }
  return a;
}

function params(seed: number): Param[] {
  return LENGTHS.map((n, i) => ({ name: `p${i}`, data: random(n, seed + i, 2) }));
}

function grads(step: number, skipOne: boolean): Map<string, Float32Array> {
  // Parameter p1 gets no gradient on step 0 (its first momentum/Adam step comes later, as in torch).
  return new Map(LENGTHS.map((n, i) => [`p${i}`, random(n, 1000 * step + i + 7, step === 2 ? 3e-3 : 0.5)] as const).filter(([name]) => !(skipOne && step === 0 && name === 'p1')));
}

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  assert.equal(x.length, y.length, `${what}: length`);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) assert.fail(`${what}[${i}] differs: native ${a[i]} vs JS ${b[i]}`);
  }
}

/** Runs `steps` steps on a native and a JS copy of the same optimiser and compares everything after each. */
function compare(label: string, make: (ps: Param[]) => Optimizer & { native: unknown }, steps = 4): void {
  const pn = params(11);
  const pj = params(11);
  const on = make(pn);
  const oj = make(pj);
  assert.ok(on.native, 'the native update is in use');
  oj.native = null;
  for (let t = 0; t < steps; t++) {
    if (t === 2) {
      on.setLr(on.getLr().map((lr) => lr * 0.5));
      oj.setLr(oj.getLr().map((lr) => lr * 0.5));
    }
    const g = grads(t, true);
    on.step(g);
    oj.step(g);
    pn.forEach((p, i) => sameBits(p.data, pj[i].data, `${label} step ${t} ${p.name}`));
    const sn = on.stateDict().state;
    const sj = oj.stateDict().state;
    assert.deepEqual(Object.keys(sn).sort(), Object.keys(sj).sort());
    for (const [name, st] of Object.entries(sn)) {
      for (const [key, value] of Object.entries(st)) {
        if (value instanceof Float32Array) sameBits(value, sj[name][key] as Float32Array, `${label} step ${t} ${name}.${key}`);
        else assert.deepEqual(value, sj[name][key]);
      }
    }
  }
}

test('native SGD equals the JS loops bit for bit (every option combination, several steps)', { skip }, () => {
  const combos: Array<{ momentum: number; dampening: number; nesterov: boolean; weightDecay: number }> = [];
  for (const momentum of [0, 0.9]) {
    for (const dampening of [0, 0.1]) {
      for (const nesterov of [false, true]) {
        for (const weightDecay of [0, 5e-4]) {
          if (nesterov && (momentum === 0 || dampening !== 0)) continue;
          combos.push({ momentum, dampening, nesterov, weightDecay });
        }
      }
    }
  }
  assert.equal(combos.length, 10);
  for (const c of combos) compare(`SGD ${JSON.stringify(c)}`, (ps) => new SGD([{ params: ps }], { lr: 0.1, ...c }));
});

test('native Adam and AdamW equal the JS loops bit for bit (amsgrad on and off, two groups)', { skip }, () => {
  for (const [name, Ctor] of [
    ['Adam', Adam],
    ['AdamW', AdamW],
  ] as const) {
    for (const amsgrad of [false, true]) {
      for (const weightDecay of [0, 0.05]) {
        compare(
          `${name} amsgrad ${amsgrad} wd ${weightDecay}`,
          (ps) => new Ctor([{ params: ps.slice(0, 2), lr: 3e-3 }, { params: ps.slice(2) }], { lr: 1e-2, betas: [0.85, 0.99], eps: 1e-6, amsgrad, weightDecay }),
        );
      }
    }
  }
});

test('the native update splits a large tensor over threads with the same result', { skip }, () => {
  const addon = (native as { addon: NativeOptimAddon }).addon;
  const before = addon.getThreads();
  try {
    const n = 1_048_579;
    const results = [1, 3].map((threads) => {
      addon.setThreads(threads);
      const p = random(n, 5, 2);
      const buf = random(n, 6, 1);
      const g = random(n, 7, 0.5);
      addon.sgd(p, g, buf, 0.1, 1e-4, 0.9, 0.9, true, false);
      const m = random(n, 8, 0.1);
      const v = random(n, 9, 0.1).map(Math.abs);
      addon.adam(p, g, m, v, null, 0.9, 0.1, 0.999, 0.001, 0, 0.999, 1e-3, 1.2, 1e-8);
      return { p, buf, m, v };
    });
    sameBits(results[0].p, results[1].p, '1 vs 3 threads: param');
    sameBits(results[0].buf, results[1].buf, '1 vs 3 threads: momentum');
    sameBits(results[0].m, results[1].m, '1 vs 3 threads: expAvg');
    assert.notEqual(results[0].p[n - 1], random(n, 5, 2)[n - 1], 'the last chunk is updated');
  } finally {
    addon.setThreads(before);
  }
});

test('the native update rejects mismatched buffers before writing; HEADSTART_NATIVE_OPTIM=0 turns it off', { skip }, () => {
  const addon = (native as { addon: NativeOptimAddon }).addon;
  const p = random(10, 1, 1);
  const copy = new Float32Array(p);
  assert.throws(
    () => addon.sgd(p, new Float32Array(9), null, 0.1, 0, 0, 1, false, false),
    (e: Error & { code?: string }) => e.code === 'E_SHAPE_MISMATCH' && /`grad` has 9 elements, the parameter has 10/.test(e.message),
  );
  assert.throws(
    () => addon.adam(p, new Float32Array(10), new Float32Array(10), new Float32Array(3), null, 0.9, 0.1, 0.999, 0.001, 0, 1, 1e-3, 1, 1e-8),
    (e: Error & { code?: string }) => e.code === 'E_SHAPE_MISMATCH' && /expAvgSq/.test(e.message),
  );
  assert.throws(
    () => addon.sgd(p, new Float64Array(10) as unknown as Float32Array, null, 0.1, 0, 0, 1, false, false),
    (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT',
  );
  assert.throws(
    () => addon.setThreads(0),
    (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT',
  );
  sameBits(p, copy, 'parameter after rejected calls');
  const off = loadNativeOptim({ HEADSTART_NATIVE_OPTIM: '0' });
  assert.ok('reason' in off && /HEADSTART_NATIVE_OPTIM=0/.test(off.reason));
});
