/**
 * Configuration and boundaries: config schemas and their defaults, createOptimizer and
 * createScheduler (units, intervals, warm-up placement), and the errors for bad input.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, TrainingError } from '../src/errors.js';
import { CosineAnnealingLR } from '../src/optim/cosine-annealing-lr.js';
import { FixedLR } from '../src/optim/fixed-lr.js';
import { LinearWarmup } from '../src/optim/linear-warmup.js';
import type { LrScheduler } from '../src/optim/lr-scheduler.js';
import { OneCycleLR } from '../src/optim/one-cycle-lr.js';
import type { Param } from '../src/optim/optimizer.js';
import { createOptimizer, OptimizerConfigSchema } from '../src/optim/optimizer-config.js';
import { createScheduler, SchedulerConfigSchema } from '../src/optim/scheduler-config.js';
import { SGD } from '../src/optim/sgd.js';
import { StepLR } from '../src/optim/step-lr.js';

const param = (name: string, values: number[]): Param => ({ name, data: Float32Array.from(values) });
const twoGroups = () => [
  { params: [param('backbone', [1, 2, 3])], lr: 0.001 },
  { params: [param('head', [4, 5])], lr: 0.01 },
];

/** The lrs a scheduler sets over `n` steps, including its initial value. */
function trace(s: LrScheduler, n: number): number[][] {
  const out = [s.getLastLr()];
  for (let i = 0; i < n; i++) {
    s.step();
    out.push(s.getLastLr());
  }
  return out;
}

describe('OptimizerConfig', () => {
  test('defaults: torchvision recipe for SGD, torch for AdamW', () => {
    assert.deepEqual(OptimizerConfigSchema.parse({ type: 'sgd' }), { type: 'sgd', lr: 0.001, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 });
    assert.deepEqual(OptimizerConfigSchema.parse({ type: 'adamw' }), { type: 'adamw', lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, amsgrad: false });
  });

  test('rejects keys that do not belong to the optimiser', () => {
    assert.throws(
      () => createOptimizer({ type: 'adam', momentum: 0.9 } as never, [param('w', [1])]),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /momentum/.test(e.message),
    );
    assert.throws(() => createOptimizer({ type: 'rmsprop' } as never, [param('w', [1])]), { name: 'ConfigError', code: 'E_BAD_OPTION' });
  });

  test('a plain parameter list is one group; group options override the config', () => {
    const single = createOptimizer({ type: 'sgd', lr: 0.1 }, [param('a', [1]), param('b', [2])]);
    assert.deepEqual(single.getLr(), [0.1]);
    const two = createOptimizer({ type: 'adamw', lr: 0.1 }, twoGroups());
    assert.deepEqual(two.getLr(), [0.001, 0.01]);
    assert.equal(two.type, 'adamw');
  });

  test('rejects bad groups: foreign keys, duplicates, nesterov without momentum, missing lr', () => {
    assert.throws(
      () => createOptimizer({ type: 'sgd' }, [{ params: [param('w', [1])], betas: [0.9, 0.99] } as never]),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /group 0.*betas/.test(e.message),
    );
    assert.throws(
      () => createOptimizer({ type: 'sgd' }, [{ params: [param('w', [1])] }, { params: [param('w', [2])] }]),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_ARGUMENT' && /`w` appears more than once/.test(e.message),
    );
    assert.throws(
      () => createOptimizer({ type: 'sgd', momentum: 0, nesterov: true }, [param('w', [1])]),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_INCOMPATIBLE_OPTIONS' && /nesterov/.test(e.message),
    );
    assert.throws(
      () => new SGD([{ params: [param('w', [1])] }]),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /lr/.test(e.message),
    );
    assert.throws(() => createOptimizer({ type: 'sgd' }, []), { name: 'ConfigError', code: 'E_BAD_ARGUMENT' });
  });
});

describe('Optimizer.step boundaries', () => {
  test('skips parameters without a gradient and refuses unknown or mis-sized ones', () => {
    const a = param('a', [1, 2]);
    const b = param('b', [3]);
    const o = createOptimizer({ type: 'sgd', lr: 0.5, momentum: 0 }, [a, b]);
    o.step(new Map([['a', Float32Array.from([1, 1])]]));
    assert.deepEqual([...a.data], [0.5, 1.5]);
    assert.deepEqual([...b.data], [3]);
    assert.throws(
      () => o.step(new Map([['c', new Float32Array(1)]])),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_ARGUMENT' && /`c`/.test(e.message),
    );
    assert.throws(
      () => o.step(new Map([['b', new Float32Array(2)]])),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_SHAPE_MISMATCH' && /`b` has 2 elements, the parameter has 1/.test(e.message),
    );
  });

  test('SGD momentum starts its buffer at the first gradient, ignoring dampening (torch)', () => {
    const w = param('w', [0]);
    const o = createOptimizer({ type: 'sgd', lr: 1, momentum: 0.5, dampening: 0.5 }, [w]);
    o.step(new Map([['w', Float32Array.from([1])]]));
    assert.equal(w.data[0], -1); // buffer = 1
    o.step(new Map([['w', Float32Array.from([1])]]));
    assert.equal(w.data[0], -2); // buffer = 0.5·1 + 0.5·1 = 1
  });
});

describe('createScheduler', () => {
  const run = { stepsPerEpoch: 10, epochs: 25 };

  test('defaults to the torchvision recipe: StepLR(7, 0.1) per epoch', () => {
    const o = createOptimizer({ type: 'sgd' }, twoGroups());
    const s = createScheduler({ type: 'step' }, o, run);
    assert.equal(s.interval, 'epoch');
    const lrs = trace(s, 14);
    assert.deepEqual(lrs[6], [0.001, 0.01]);
    assert.ok(Math.abs(lrs[7][1] - 0.001) < 1e-15 && Math.abs(lrs[14][1] - 1e-4) < 1e-15);
  });

  test('per-batch StepLR decays at the same epoch boundaries', () => {
    const o = createOptimizer({ type: 'sgd' }, twoGroups());
    const s = createScheduler({ type: 'step', interval: 'batch' }, o, run);
    assert.equal(s.interval, 'batch');
    assert.deepEqual(s.lrAt(69), [0.001, 0.01]);
    assert.deepEqual(s.lrAt(70), new StepLR(createOptimizer({ type: 'sgd' }, twoGroups()), { stepSize: 7 }).lrAt(7));
  });

  test('cosine with an epoch warm-up is LinearWarmup(Cosine(rest of the run))', () => {
    const s = createScheduler({ type: 'cosine', warmup: { epochs: 2, startFactor: 0.1 } }, createOptimizer({ type: 'sgd' }, twoGroups()), run);
    const o = createOptimizer({ type: 'sgd' }, twoGroups());
    const ref = new LinearWarmup(new CosineAnnealingLR(o, { tMax: 23 }), { steps: 2, startFactor: 0.1 });
    assert.equal(s.interval, 'epoch');
    assert.deepEqual(trace(s, 25), trace(ref, 25));
  });

  test('a warm-up in steps makes the schedule per batch; cosine then spans the batches left', () => {
    const s = createScheduler({ type: 'cosine', warmup: { steps: 5 } }, createOptimizer({ type: 'sgd' }, twoGroups()), run);
    const ref = new LinearWarmup(new CosineAnnealingLR(createOptimizer({ type: 'sgd' }, twoGroups()), { tMax: 245, interval: 'batch' }), { steps: 5 });
    assert.equal(s.interval, 'batch');
    assert.deepEqual(trace(s, 250), trace(ref, 250));
    assert.ok(s.lrAt(250)[1] < 1e-15, 'reaches etaMin at the end of the run');
    assert.throws(
      () => createScheduler({ type: 'cosine', interval: 'epoch', warmup: { steps: 5 } }, createOptimizer({ type: 'sgd' }, twoGroups()), run),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_INCOMPATIBLE_OPTIONS' && /warmup.steps/.test(e.message),
    );
  });

  test('one-cycle spans the run per batch, peaks at each group lr, and refuses a step past the end', () => {
    const o = createOptimizer({ type: 'sgd' }, twoGroups());
    const s = createScheduler({ type: 'onecycle' }, o, { stepsPerEpoch: 4, epochs: 5 });
    assert.ok(s instanceof OneCycleLR);
    assert.equal(s.interval, 'batch');
    const lrs = trace(s, 20);
    const peak = lrs.reduce((m, l) => Math.max(m, l[1]), 0);
    assert.ok(Math.abs(peak - 0.01) < 1e-15);
    assert.ok(Math.abs(lrs[0][0] / lrs[0][1] - 0.1) < 1e-12, 'discriminative ratio kept');
    assert.deepEqual(s.momentumAt(0), [0.95, 0.95]);
    assert.deepEqual(s.momentumAt(5), [0.85, 0.85], 'momentum lowest at the lr peak');
    assert.throws(
      () => s.step(),
      (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_OPTION' && /totalSteps 20/.test(e.message),
    );
    assert.equal(s.stepCount, 20, 'a refused step is not counted');
  });

  test("one-cycle with fastai's convention: step t at t/steps, so a 4-step frozen epoch keeps its largest step", () => {
    // fastai: combine_scheds([p, 1-p], [SchedCos(lr/div, lr), SchedCos(lr, lr/div/div_final)]) at
    // pos = t / n; SchedCos(a, b)(x) = a + (1 + cos(pi * (1 - x))) * (b - a) / 2.
    const schedCos = (a: number, b: number, x: number) => a + ((1 + Math.cos(Math.PI * (1 - x))) * (b - a)) / 2;
    const lr = 2e-3;
    const pct = 0.99;
    const fastai = (t: number, n: number) => {
      const pos = t / n;
      return pos < pct ? schedCos(lr / 25, lr, pos / pct) : schedCos(lr, lr / 25 / 1e5, (pos - pct) / (1 - pct));
    };
    const o = createOptimizer({ type: 'adamw' }, [{ params: [param('w', [1])], lr }]);
    const s = createScheduler({ type: 'onecycle', pctStart: pct, divFactor: 25, finalDivFactor: 1e5, convention: 'fastai' }, o, { stepsPerEpoch: 4, epochs: 1 });
    const lrs = trace(s, 3).map((l) => l[0]);
    lrs.forEach((l, t) => assert.ok(Math.abs(l - fastai(t, 4)) < 1e-15, `step ${t}: ${l} vs fastai ${fastai(t, 4)}`));
    assert.ok(lrs[3] > 1.5e-3, `the last step is the largest (${lrs[3]})`);
    const torch = createScheduler({ type: 'onecycle', pctStart: pct, divFactor: 25, finalDivFactor: 1e5 }, createOptimizer({ type: 'adamw' }, [{ params: [param('w', [1])], lr }]), {
      stepsPerEpoch: 4,
      epochs: 1,
    });
    assert.ok(trace(torch, 3)[3][0] < 1e-8, "torch's convention ends this cycle at the final lr");
    // Over a long run both conventions trace the same curve.
    const long = (convention: 'torch' | 'fastai') =>
      trace(createScheduler({ type: 'onecycle', convention }, createOptimizer({ type: 'sgd' }, [{ params: [param('w', [1])], lr: 0.1 }]), { stepsPerEpoch: 100, epochs: 10 }), 999).map((l) => l[0]);
    const [a, b] = [long('torch'), long('fastai')];
    assert.ok(
      a.every((v, i) => Math.abs(v - b[i]) < 0.01 * 0.1),
      'within 1% of the peak everywhere',
    );
    assert.throws(
      () => createScheduler({ type: 'onecycle', convention: 'fastai', threePhase: true }, createOptimizer({ type: 'sgd' }, twoGroups()), run),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION',
    );
  });

  test('none keeps the lrs; none + warm-up ramps to them', () => {
    const o = createOptimizer({ type: 'adam' }, twoGroups());
    const s = createScheduler({ type: 'none' }, o, run);
    assert.ok(s instanceof FixedLR);
    assert.deepEqual(trace(s, 3), [
      [0.001, 0.01],
      [0.001, 0.01],
      [0.001, 0.01],
      [0.001, 0.01],
    ]);
    const w = createScheduler({ type: 'none', warmup: { epochs: 2, startFactor: 0.5 } }, createOptimizer({ type: 'adam' }, twoGroups()), run);
    assert.deepEqual(
      trace(w, 3).map((l) => l[1]),
      [0.005, 0.0075, 0.01, 0.01],
    );
  });

  test('rejects bad configs', () => {
    const o = () => createOptimizer({ type: 'sgd' }, twoGroups());
    const bad = (config: unknown, pattern: RegExp, r = run) =>
      assert.throws(
        () => createScheduler(config as never, o(), r),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
      );
    bad({ type: 'step', warmup: { epochs: 1, steps: 2 } }, /exactly one of warmup.epochs or warmup.steps/);
    bad({ type: 'cosine', warmup: { epochs: 25 } }, /covers the whole run/);
    bad({ type: 'step', stepsize: 3 }, /stepsize/);
    bad({ type: 'exponential' }, /type/);
    bad({ type: 'onecycle', maxLr: [0.1, 0.2, 0.3] }, /one value per parameter group/);
    bad({ type: 'onecycle' }, /phase 1 of 2 is empty/, { stepsPerEpoch: 1, epochs: 2 });
    bad({ type: 'step' }, /stepsPerEpoch/, { stepsPerEpoch: 0, epochs: 2 });
    assert.ok(SchedulerConfigSchema.safeParse({ type: 'onecycle', interval: 'epoch' }).success === false, 'one-cycle has no interval option');
  });
});
