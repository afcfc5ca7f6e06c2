/**
 * The error helpers of the base layer and the shape checks that once compared element
 * counts only: a transposed weight (same count, other shape) must be refused by name.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { writeFileAtomic } from '../src/atomic-write.js';
import { ConfigError, ERROR_CODES, GraphError, IOError, TrainingError } from '../src/errors.js';
import { NetBuilder } from '../src/models/net-builder.js';
import { Graph } from '../src/onnx/graph.js';
import '../src/onnx/ops/index.js';
import { readFileOrThrow } from '../src/read-file.js';
import { float32, type NamedTensors } from '../src/tensor.js';
import { copyInto } from '../src/train/checkpoint.js';
import { describeZodIssues, parseOrThrow } from '../src/zod-issues.js';

const transposed = (rows: number, cols: number) =>
  float32(
    [cols, rows],
    Float32Array.from({ length: rows * cols }, (_, i) => i),
  );

test('error codes are unique and named E_*', () => {
  assert.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  for (const c of ERROR_CODES) assert.match(c, /^E_[A-Z_]+$/);
});

test('NetBuilder refuses a constant whose shape is transposed (same element count)', () => {
  const build = (constants: NamedTensors) => {
    const g = new Graph();
    const x = g.input('x', 'float32', [1, 3]);
    new NetBuilder(g, { mode: 'eval', constants }).linear(x, 'fc', 2);
  };
  build(new Map([['fc.weight', float32([2, 3])]])); // the right shape builds
  assert.throws(
    () => build(new Map([['fc.weight', transposed(2, 3)]])),
    (e: unknown) => e instanceof GraphError && e.code === 'E_SHAPE_MISMATCH' && e.message === 'Shape mismatch for `fc.weight`: expected [2,3], found [3,2]',
  );
});

test('copyInto (checkpoint resume) refuses a transposed tensor and leaves the target untouched', () => {
  const target: NamedTensors = new Map([['fc.weight', float32([2, 3])]]);
  assert.throws(
    () => copyInto(target, new Map([['fc.weight', transposed(2, 3)]])),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_SHAPE_MISMATCH' && /`fc\.weight` in the checkpoint: expected \[2,3\], found \[3,2\]/.test(e.message),
  );
  assert.ok((target.get('fc.weight')!.data as Float32Array).every((v) => v === 0));
  copyInto(target, new Map([['fc.weight', float32([2, 3], new Float32Array([1, 2, 3, 4, 5, 6]))]]));
  assert.deepEqual([...(target.get('fc.weight')!.data as Float32Array)], [1, 2, 3, 4, 5, 6]);
});

test('describeZodIssues and parseOrThrow: one wording, ConfigError E_BAD_OPTION', () => {
  const schema = z.strictObject({ size: z.number().int().positive(), name: z.string() });
  const r = schema.safeParse({ size: -1, name: 3 });
  assert.ok(!r.success);
  assert.equal(describeZodIssues(r.error), `size: ${r.error.issues[0].message}; name: ${r.error.issues[1].message}`);
  assert.equal(describeZodIssues(r.error, 1), `size: ${r.error.issues[0].message}; and 1 more`);
  const root = z.number().safeParse('x');
  assert.ok(!root.success);
  assert.match(describeZodIssues(root.error), /^\(root\): /);
  assert.deepEqual(parseOrThrow(schema, { size: 2, name: 'a' }, 'f: invalid options'), { size: 2, name: 'a' });
  assert.throws(
    () => parseOrThrow(schema, { size: 0, name: 'a' }, 'f: invalid options', 'size is a positive integer'),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /^f: invalid options: size: /.test(e.message) && e.hint === 'size is a positive integer',
  );
});

test('readFileOrThrow and writeFileAtomic fail with IOErrors naming the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'headstart-errors-'));
  try {
    await assert.rejects(readFileOrThrow(join(dir, 'nope.bin'), 'weight file', 'check --weights'), (e: unknown) => {
      return e instanceof IOError && e.code === 'E_NOT_FOUND' && /^Cannot read weight file `.*nope\.bin`: ENOENT$/.test(e.message) && e.hint === 'check --weights';
    });
    await assert.rejects(readFileOrThrow(dir, 'weight file'), (e: unknown) => e instanceof IOError && e.code === 'E_READ_FAILED' && /EISDIR/.test(e.message));
    await assert.rejects(writeFileAtomic(join(dir, 'missing', 'out.json'), '{}', 'the report'), (e: unknown) => {
      return e instanceof IOError && e.code === 'E_WRITE_FAILED' && /^Cannot write the report `.*missing\/out\.json`: ENOENT$/.test(e.message);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
