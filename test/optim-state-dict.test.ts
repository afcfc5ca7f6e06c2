/**
 * Resuming: an optimiser and scheduler stopped after 10 steps, serialised (v8.serialize, as a
 * checkpoint would), restored into fresh objects and run 10 more steps must end bit-identical
 * to an uninterrupted 20-step run. Also: bad state dicts are refused without side effects.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import v8 from 'node:v8';
import { TrainingError } from '../src/errors.js';
import type { Optimizer, Param } from '../src/optim/optimizer.js';
import { createOptimizer, type OptimizerConfigInput } from '../src/optim/optimizer-config.js';
import { createScheduler, type SchedulerConfigInput } from '../src/optim/scheduler-config.js';
import type { LrScheduler } from '../src/optim/lr-scheduler.js';

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

const SIZES: Record<string, number> = { 'backbone.w': 40, 'backbone.b': 5, 'head.w': 12, 'head.b': 3 };
const NAMES = Object.keys(SIZES);
const RUN = { stepsPerEpoch: 4, epochs: 5 };
const TOTAL = RUN.stepsPerEpoch * RUN.epochs;
const STOP = 10;

function initialParams(): Param[] {
  const r = rng(7);
  return NAMES.map((name) => ({ name, data: Float32Array.from({ length: SIZES[name] }, () => r() * 2 - 1) }));
}

function gradients(): Array<Map<string, Float32Array>> {
  const r = rng(99);
  return Array.from({ length: TOTAL }, (_, k) => {
    const m = new Map<string, Float32Array>();
    for (const n of NAMES) {
      if (n === 'head.b' && k % 3 === 1) continue; // skipped parameters keep their own Adam step count
      m.set(
        n,
        Float32Array.from({ length: SIZES[n] }, () => r() * 2 - 1),
      );
    }
    return m;
  });
}

interface Setup {
  name: string;
  optimizer: OptimizerConfigInput;
  scheduler: SchedulerConfigInput;
}

const SETUPS: Setup[] = [
  {
    name: 'SGD nesterov + StepLR per batch + warm-up',
    optimizer: { type: 'sgd', lr: 0.05, nesterov: true, weightDecay: 1e-3 },
    scheduler: { type: 'step', stepSize: 1, gamma: 0.7, interval: 'batch', warmup: { steps: 3 } },
  },
  { name: 'Adam amsgrad + cosine + warm-up', optimizer: { type: 'adam', lr: 0.01, amsgrad: true }, scheduler: { type: 'cosine', interval: 'batch', warmup: { epochs: 1, startFactor: 0.1 } } },
  { name: 'AdamW + one-cycle (beta1 cycling)', optimizer: { type: 'adamw', lr: 0.01 }, scheduler: { type: 'onecycle' } },
  { name: 'SGD + one-cycle three-phase + warm-up', optimizer: { type: 'sgd', lr: 0.1, momentum: 0 }, scheduler: { type: 'onecycle', threePhase: true, warmup: { steps: 2 } } },
];

function build(setup: Setup, params: Param[]): { optimizer: Optimizer; scheduler: LrScheduler } {
  const byName = new Map(params.map((p) => [p.name, p]));
  const groups = [{ params: [byName.get('backbone.w')!, byName.get('backbone.b')!], lr: 0.002 }, { params: [byName.get('head.w')!, byName.get('head.b')!] }];
  const optimizer = createOptimizer(setup.optimizer, groups);
  const scheduler = createScheduler(setup.scheduler, optimizer, RUN);
  return { optimizer, scheduler };
}

function snapshot(params: Param[], o: Optimizer): { params: Float32Array[]; lr: number[]; momentum: number[] } {
  return { params: params.map((p) => new Float32Array(p.data)), lr: o.getLr(), momentum: o.getMomentum() };
}

describe('state dict round trip', () => {
  for (const setup of SETUPS) {
    test(setup.name, () => {
      const grads = gradients();
      assert.ok(build(setup, initialParams()).scheduler.interval === 'batch');

      // Uninterrupted.
      const pa = initialParams();
      const a = build(setup, pa);
      for (let k = 0; k < TOTAL; k++) {
        a.optimizer.step(grads[k]);
        a.scheduler.step();
      }

      // Interrupted at STOP: save weights, optimiser and scheduler; restore into fresh objects.
      const pb = initialParams();
      const b = build(setup, pb);
      for (let k = 0; k < STOP; k++) {
        b.optimizer.step(grads[k]);
        b.scheduler.step();
      }
      const checkpoint = v8.serialize({
        weights: pb.map((p) => ({ name: p.name, data: p.data })),
        optimizer: b.optimizer.stateDict(),
        scheduler: b.scheduler.stateDict(),
      });
      const saved = v8.deserialize(checkpoint) as {
        weights: Param[];
        optimizer: ReturnType<Optimizer['stateDict']>;
        scheduler: ReturnType<LrScheduler['stateDict']>;
      };
      const pc = initialParams();
      pc.forEach((p, i) => p.data.set(saved.weights[i].data));
      const c = build(setup, pc);
      c.optimizer.loadStateDict(saved.optimizer);
      c.scheduler.loadStateDict(saved.scheduler);
      assert.deepEqual(c.optimizer.getLr(), b.optimizer.getLr(), 'lr right after restoring');
      assert.deepEqual(c.optimizer.getMomentum(), b.optimizer.getMomentum(), 'momentum right after restoring');
      assert.equal(c.scheduler.stepCount, STOP);
      for (let k = STOP; k < TOTAL; k++) {
        c.optimizer.step(grads[k]);
        c.scheduler.step();
      }

      const sa = snapshot(pa, a.optimizer);
      const sc = snapshot(pc, c.optimizer);
      assert.deepEqual(sc.lr, sa.lr);
      assert.deepEqual(sc.momentum, sa.momentum);
      sa.params.forEach((x, i) => assert.deepEqual(sc.params[i], x, `\`${NAMES[i]}\` differs after resuming`));
      // And the run did something.
      assert.notDeepEqual(sa.params[0], initialParams()[0].data);
    });
  }
});

describe('state dicts', () => {
  const setup = SETUPS[1];

  test('stateDict is a deep copy', () => {
    const params = initialParams();
    const { optimizer, scheduler } = build(setup, params);
    const grads = gradients();
    optimizer.step(grads[0]);
    scheduler.step();
    const sd = optimizer.stateDict();
    const before = new Float32Array(sd.state['head.w'].expAvg as Float32Array);
    optimizer.step(grads[1]);
    assert.deepEqual(sd.state['head.w'].expAvg, before);
    assert.equal(sd.state['head.w'].step, 1);
    assert.deepEqual(
      sd.groups.map((g) => g.params),
      [
        ['backbone.w', 'backbone.b'],
        ['head.w', 'head.b'],
      ],
    );
  });

  test('refuses a state dict of another optimiser type', () => {
    const sgd = build(SETUPS[0], initialParams()).optimizer;
    sgd.step(gradients()[0]);
    const adam = build(setup, initialParams()).optimizer;
    assert.throws(
      () => adam.loadStateDict(sgd.stateDict()),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_CHECKPOINT' && /for sgd, this optimiser is adam/.test(e.message),
    );
  });

  test('refuses mismatched parameters and buffers, leaving the optimiser intact', () => {
    const grads = gradients();
    const params = initialParams();
    const { optimizer } = build(setup, params);
    optimizer.step(grads[0]);
    const good = optimizer.stateDict();

    const renamed = structuredClone(good);
    renamed.groups[1].params = ['head.w', 'head.bias'];
    assert.throws(
      () => optimizer.loadStateDict(renamed),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_CHECKPOINT' && /group 1 holds different parameters/.test(e.message),
    );

    const short = structuredClone(good);
    short.state['head.w'].expAvgSq = new Float32Array(3);
    assert.throws(
      () => optimizer.loadStateDict(short),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_SHAPE_MISMATCH' && /`head.w`.*expAvgSq.*3 elements.*12/.test(e.message),
    );

    const badHyper = structuredClone(good);
    badHyper.groups[0].betas = [0.9, 1.5];
    assert.throws(() => optimizer.loadStateDict(badHyper), { name: 'TrainingError', code: 'E_BAD_CHECKPOINT' });

    // Nothing above changed the optimiser: it continues exactly like an untouched twin.
    const twinParams = initialParams();
    const twin = build(setup, twinParams).optimizer;
    twin.step(grads[0]);
    optimizer.step(grads[1]);
    twin.step(grads[1]);
    params.forEach((p, i) => assert.deepEqual(p.data, twinParams[i].data));
  });

  test('scheduler refuses another type or group count', () => {
    const a = build(setup, initialParams());
    const sd = a.scheduler.stateDict();
    assert.equal(sd.type, 'warmup');
    assert.equal(sd.inner?.type, 'cosine');
    const other = build(SETUPS[2], initialParams()).scheduler;
    assert.throws(
      () => other.loadStateDict(sd),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_CHECKPOINT' && /for warmup, this scheduler is onecycle/.test(e.message),
    );
    const bad = { ...sd, baseLrs: [0.1] };
    assert.throws(
      () => a.scheduler.loadStateDict(bad),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_CHECKPOINT' && /2 finite base learning rates/.test(e.message),
    );
    const badInner = { ...sd, inner: { ...sd.inner, type: 'step' } };
    assert.throws(() => a.scheduler.loadStateDict(badInner), { name: 'TrainingError', code: 'E_BAD_CHECKPOINT' });
    assert.deepEqual(a.scheduler.stateDict(), sd, 'a refused state leaves the scheduler unchanged');
  });
});
