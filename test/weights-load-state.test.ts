import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WeightsError } from '../src/errors.js';
import { float32, type HostTensor, type NamedTensors } from '../src/tensor.js';
import { matchStateDict } from '../src/weights/load-state.js';

const expected = new Map<string, number[]>([
  ['conv1.weight', [64, 3, 7, 7]],
  ['bn1.weight', [64]],
  ['bn1.running_mean', [64]],
  ['bn1.num_batches_tracked', []],
  ['fc.weight', [2, 512]],
  ['fc.bias', [2]],
]);

function checkpoint(classes: number, overrides: Record<string, number[]> = {}): NamedTensors {
  const m: NamedTensors = new Map<string, HostTensor>();
  const shapes: Record<string, number[]> = {
    'conv1.weight': [64, 3, 7, 7],
    'bn1.weight': [64],
    'bn1.running_mean': [64],
    'fc.weight': [classes, 512],
    'fc.bias': [classes],
    ...overrides,
  };
  for (const [k, s] of Object.entries(shapes)) m.set(k, float32(s));
  m.set('bn1.num_batches_tracked', { dtype: 'int64', shape: [], data: new BigInt64Array(1) });
  return m;
}

const classifierNames = ['fc.weight', 'fc.bias'];

describe('weights: matching a state dict to a model', () => {
  test('matching names and shapes load in the expected order; num_batches_tracked is ignored', () => {
    const r = matchStateDict(expected, checkpoint(2), { classifierNames });
    assert.deepEqual([...r.tensors.keys()], ['conv1.weight', 'bn1.weight', 'bn1.running_mean', 'fc.weight', 'fc.bias']);
    assert.deepEqual(r.reinitialised, []);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.unexpected, []);
    assert.deepEqual(r.notes, []);
  });

  test('a classifier with another class count is left out for re-initialisation, and said so', () => {
    const r = matchStateDict(expected, checkpoint(1000), { classifierNames });
    assert.deepEqual(r.reinitialised, ['fc.weight', 'fc.bias']);
    assert.deepEqual([...r.tensors.keys()], ['conv1.weight', 'bn1.weight', 'bn1.running_mean']);
    assert.match(r.notes[0], /classifier has 1000 outputs and the model 2: `fc\.weight`, `fc\.bias` are re-initialised/);
  });

  test('without re-initialisation, the mismatch is an error naming the parameter, both shapes and --num-classes', () => {
    assert.throws(
      () => matchStateDict(expected, checkpoint(1000), { classifierNames, reinitialiseClassifier: false }),
      (e: unknown) =>
        e instanceof WeightsError &&
        e.code === 'E_SHAPE_MISMATCH' &&
        e.toLine() === "Shape mismatch for `fc.weight`: expected [2,512], found [1000,512] (use --num-classes 1000 to keep the checkpoint's classifier)",
    );
    // Without classifier names, a classifier mismatch is an ordinary mismatch.
    assert.throws(() => matchStateDict(expected, checkpoint(1000)), {
      code: 'E_SHAPE_MISMATCH',
      message: /Shape mismatch for `fc\.weight`: expected \[2,512\], found \[1000,512\] \(and 1 more: `fc\.bias`\)/,
    });
  });

  test('a backbone mismatch is an error even when the classifier differs too', () => {
    assert.throws(
      () => matchStateDict(expected, checkpoint(1000, { 'conv1.weight': [64, 3, 3, 3] }), { classifierNames }),
      (e: unknown) =>
        e instanceof WeightsError && e.code === 'E_SHAPE_MISMATCH' && /^Shape mismatch for `conv1\.weight`: expected \[64,3,7,7\], found \[64,3,3,3\]$/.test(e.message) && /--model/.test(e.hint ?? ''),
    );
  });

  test('missing and unexpected names are reported, and are errors when strict', () => {
    const ck = checkpoint(2);
    ck.delete('bn1.running_mean');
    ck.set('layer9.weight', float32([3]));
    const r = matchStateDict(expected, ck, { classifierNames });
    assert.deepEqual(r.missing, ['bn1.running_mean']);
    assert.deepEqual(r.unexpected, ['layer9.weight']);
    assert.equal(r.notes.length, 2);
    assert.throws(() => matchStateDict(expected, ck, { strict: true }), { code: 'E_WEIGHTS_MISMATCH', message: /do not fit the model: missing `bn1\.running_mean`; unexpected `layer9\.weight`/ });
    assert.throws(() => matchStateDict(expected, ck, { classifier: [] } as never), { code: 'E_BAD_OPTION', message: /Invalid state-dict matching options/ });
  });
});
