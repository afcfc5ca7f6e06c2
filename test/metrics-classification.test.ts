import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import {
  accuracy,
  accuracyWithInterval,
  argmaxRows,
  classificationMetrics,
  confusionMatrix,
  metricsFromConfusion,
  normalQuantile,
  softmax,
  topKAccuracy,
  wilsonInterval,
} from '../src/metrics/classification.js';
import { ConfigError, DataError } from '../src/errors.js';

const close = (a: number, b: number, tol = 1e-9, msg?: string) => assert.ok(Math.abs(a - b) <= tol, msg ?? `expected ${b}, found ${a} (tol ${tol})`);

test('confusionMatrix counts [true][predicted]', () => {
  const labels = [0, 0, 1, 1, 1, 2];
  const preds = [0, 1, 1, 1, 2, 2];
  assert.deepEqual(confusionMatrix(labels, preds, 3), [
    [1, 1, 0],
    [0, 2, 1],
    [0, 0, 1],
  ]);
  // int64 arrays as ONNX Runtime returns them
  assert.deepEqual(confusionMatrix(new BigInt64Array([1n, 0n]), new Int32Array([1, 1]), 2), [
    [0, 1],
    [0, 1],
  ]);
});

test('confusionMatrix rejects bad input with named errors', () => {
  assert.throws(
    () => confusionMatrix([], [], 2),
    (e: unknown) => e instanceof DataError && e.code === 'E_NO_DATA' && /no samples/.test(e.message),
  );
  assert.throws(
    () => confusionMatrix([0, 1], [0], 2),
    (e: unknown) => e instanceof DataError && e.code === 'E_SHAPE_MISMATCH' && /same length/.test(e.message),
  );
  assert.throws(
    () => confusionMatrix([0, 2], [0, 1], 2),
    (e: unknown) => e instanceof DataError && e.code === 'E_BAD_ARGUMENT' && /labels\[1\].*found 2/.test(e.message),
  );
  assert.throws(
    () => confusionMatrix([0, 1], [0, 0.5], 2),
    (e: unknown) => e instanceof DataError && e.code === 'E_BAD_ARGUMENT' && /predictions\[1\]/.test(e.message),
  );
  assert.throws(() => confusionMatrix([0], [0], 0), { name: 'ConfigError', code: 'E_BAD_ARGUMENT' });
  assert.throws(() => accuracy([], []), { name: 'DataError', code: 'E_NO_DATA' });
});

test('accuracy', () => {
  assert.equal(accuracy([0, 1, 2, 3], [0, 1, 0, 3]), 0.75);
  assert.equal(accuracy([1], [1]), 1);
});

test('normalQuantile gives the textbook z values', () => {
  close(normalQuantile(0.975), 1.959963984540054, 1e-8);
  close(normalQuantile(0.995), 2.5758293035489, 1e-8);
  close(normalQuantile(0.5), 0, 1e-12);
  close(normalQuantile(0.01), -2.3263478740408408, 1e-8);
  assert.throws(() => normalQuantile(1), { name: 'ConfigError', code: 'E_BAD_ARGUMENT' });
});

test('wilsonInterval matches hand-computed values', () => {
  // 8/10 at 95%: p=.8, z^2=3.8415; centre=(.8+.19207)/1.38415=.71674, half=.22658
  const w = wilsonInterval(8, 10);
  close(w.estimate, 0.8);
  close(w.lower, 0.4901625, 1e-6);
  close(w.upper, 0.9433178, 1e-6);
  assert.equal(w.confidence, 0.95);
  // 0/n and n/n: exact 0 and 1 at the closed end, non-degenerate at the other
  const zero = wilsonInterval(0, 20);
  assert.equal(zero.lower, 0);
  close(zero.upper, 3.8415 / (20 + 3.8415), 1e-4); // z^2/(n+z^2)
  const all = wilsonInterval(20, 20);
  assert.equal(all.upper, 1);
  close(all.lower, 20 / (20 + 3.8415), 1e-4);
  // larger confidence, wider interval
  const w99 = wilsonInterval(8, 10, { confidence: 0.99 });
  assert.ok(w99.lower < w.lower && w99.upper > w.upper);
  assert.throws(() => wilsonInterval(0, 0), { name: 'DataError', code: 'E_BAD_ARGUMENT' });
  assert.throws(() => wilsonInterval(11, 10), { name: 'DataError', code: 'E_BAD_ARGUMENT' });
  assert.throws(() => wilsonInterval(1, 10, { confidence: 95 }), { name: 'ConfigError', code: 'E_BAD_OPTION' });
  assert.throws(
    () => wilsonInterval(1, 10, { level: 0.9 } as never),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /level/.test(e.message),
  );
});

test('accuracyWithInterval', () => {
  const r = accuracyWithInterval([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]);
  assert.equal(r.correct, 8);
  assert.equal(r.total, 10);
  close(r.lower, 0.4901625, 1e-6);
});

test('per-class precision, recall, F1, support and macro averages (hand-computed)', () => {
  // cm rows=true: class0 [1,1,0] class1 [0,2,1] class2 [0,0,1]
  const m = classificationMetrics([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2], 3, { classNames: ['a', 'b', 'c'] });
  const [a, b, c] = m.perClass;
  assert.equal(a.name, 'a');
  close(a.precision, 1);
  close(a.recall, 0.5);
  close(a.f1, 2 / 3);
  assert.equal(a.support, 2);
  close(b.precision, 2 / 3);
  close(b.recall, 2 / 3);
  close(b.f1, 2 / 3);
  assert.equal(b.support, 3);
  close(c.precision, 0.5);
  close(c.recall, 1);
  close(c.f1, 2 / 3);
  assert.equal(c.support, 1);
  close(m.macro.precision, (1 + 2 / 3 + 0.5) / 3);
  close(m.macro.recall, (0.5 + 2 / 3 + 1) / 3);
  close(m.macro.f1, 2 / 3);
  close(m.weighted.recall, 4 / 6); // weighted recall == accuracy
  assert.equal(m.accuracy.correct, 4);
  close(m.accuracy.estimate, 4 / 6);
  assert.deepEqual(m.warnings, []);
});

test('a class never predicted: precision 0 and flagged; an absent class: recall 0 and flagged', () => {
  const m = classificationMetrics([0, 1, 1, 0], [0, 0, 0, 0], 3, { classNames: ['cat', 'dog', 'fox'] });
  const dog = m.perClass[1];
  assert.equal(dog.precision, 0);
  assert.equal(dog.precisionDefined, false);
  assert.equal(dog.recall, 0);
  assert.equal(dog.recallDefined, true);
  assert.equal(dog.f1, 0);
  const fox = m.perClass[2];
  assert.equal(fox.support, 0);
  assert.equal(fox.recallDefined, false);
  assert.equal(fox.precisionDefined, false);
  assert.ok(m.warnings.some((w) => /'dog' was never predicted/.test(w)));
  assert.ok(m.warnings.some((w) => /'fox' has no samples/.test(w)));
  // macro counts undefined values as 0 (sklearn's zero_division=0)
  close(m.macro.precision, 0.5 / 3);
  close(m.macro.recall, 1 / 3);
});

test('metricsFromConfusion validates its matrix and options', () => {
  assert.throws(
    () =>
      metricsFromConfusion([
        [0, 0],
        [0, 0],
      ]),
    (e: unknown) => e instanceof DataError && e.code === 'E_NO_DATA' && /empty/.test(e.message),
  );
  assert.throws(() => metricsFromConfusion([[1, 0], [0]]), { name: 'DataError', code: 'E_SHAPE_MISMATCH' });
  assert.throws(
    () =>
      metricsFromConfusion([
        [1, -1],
        [0, 1],
      ]),
    { name: 'DataError', code: 'E_BAD_ARGUMENT' },
  );
  assert.throws(() => metricsFromConfusion([[1]], { classNames: ['a', 'b'] }), { name: 'ConfigError', code: 'E_BAD_OPTION' });
  assert.throws(() => metricsFromConfusion([[1]], { names: ['a'] } as never), { name: 'ConfigError', code: 'E_BAD_OPTION' });
  const one = metricsFromConfusion([[3]]);
  assert.equal(one.perClass[0].name, '0');
  assert.equal(one.accuracy.estimate, 1);
});

test('softmax is stable and rows sum to 1', () => {
  const p = softmax([0, 0, Math.log(2), 1000, 1000, 1000], 3);
  close(p[0], 0.25);
  close(p[1], 0.25);
  close(p[2], 0.5);
  close(p[3], 1 / 3);
  close(p[5], 1 / 3);
  const q = softmax(new Float32Array([1, 2, 3]), 3);
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const s = e[0] + e[1] + e[2];
  for (let i = 0; i < 3; i++) close(q[i], e[i] / s, 1e-12);
  assert.throws(() => softmax([], 3), { name: 'DataError', code: 'E_NO_DATA' });
  assert.throws(
    () => softmax([1, 2, 3, 4], 3),
    (e: unknown) => e instanceof DataError && e.code === 'E_SHAPE_MISMATCH' && /multiple/.test(e.message),
  );
  assert.throws(
    () => softmax([1, NaN], 2),
    (e: unknown) => e instanceof DataError && e.code === 'E_DIVERGED' && /logits\[0\]\[1\] is NaN/.test(e.message),
  );
});

test('argmaxRows and topKAccuracy, with ties ranked by lower index', () => {
  const logits = [
    0.1,
    0.7,
    0.2, // argmax 1
    0.5,
    0.5,
    0.0, // tie: argmax 0
    0.3,
    0.2,
    0.9, // argmax 2, second 0
  ];
  assert.deepEqual(Array.from(argmaxRows(logits, 3)), [1, 0, 2]);
  const labels = [1, 1, 0];
  close(topKAccuracy(logits, labels, 3, 1), 1 / 3); // row 2's tie loses to class 0
  close(topKAccuracy(logits, labels, 3, 1), accuracy(labels, argmaxRows(logits, 3)));
  close(topKAccuracy(logits, labels, 3, 2), 1);
  close(topKAccuracy(logits, labels, 3, 5), 1);
  assert.throws(() => topKAccuracy(logits, labels, 3, 0), { name: 'ConfigError', code: 'E_BAD_OPTION' });
  assert.throws(() => topKAccuracy(logits, [1, 1], 3, 1), { name: 'DataError', code: 'E_SHAPE_MISMATCH' });
  assert.throws(() => topKAccuracy(logits, [1, 1, 3], 3, 1), { name: 'DataError', code: 'E_BAD_ARGUMENT' });
});

test('softmax and top-k agree with PyTorch on random logits', (t) => {
  const py = '/usr/bin/python3';
  const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('Debian python3-torch is not importable at /usr/bin/python3');
    return;
  }
  // Deterministic logits (LCG), no ties with probability ~1.
  let s = 12345;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 8 - 4;
  const n = 50;
  const c = 7;
  const logits = Array.from({ length: n * c }, rand);
  const labels = Array.from({ length: n }, (_, i) => (i * 5) % c);
  const script = `
import json, sys, torch
torch.set_num_threads(1)
d = json.load(sys.stdin)
x = torch.tensor(d['logits'], dtype=torch.float64).reshape(${n}, ${c})
y = torch.tensor(d['labels'])
top = x.topk(3, dim=1).indices
print(json.dumps({'p': torch.softmax(x, 1).flatten().tolist(),
  'top1': (top[:, :1] == y[:, None]).any(1).double().mean().item(),
  'top3': (top == y[:, None]).any(1).double().mean().item()}))
`;
  const r = spawnSync(py, ['-c', script], { input: JSON.stringify({ logits, labels }), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as { p: number[]; top1: number; top3: number };
  const p = softmax(logits, c);
  for (let i = 0; i < p.length; i++) close(p[i], ref.p[i], 1e-12);
  close(topKAccuracy(logits, labels, c, 1), ref.top1, 0);
  close(topKAccuracy(logits, labels, c, 3), ref.top3, 0);
});
