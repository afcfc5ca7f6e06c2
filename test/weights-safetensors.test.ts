import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WeightsError } from '../src/errors.js';
import type { HostTensor, NamedTensors } from '../src/tensor.js';
import { loadSafetensors, parseSafetensorsHeader, readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';

const PYTHON = '/usr/bin/python3';

function torchSkip(): string | false {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (Debian's python3-torch writes the reference file)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? false : `torch not importable by ${PYTHON}`;
}

const bytesOf = (t: HostTensor): Buffer => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** A file from a hand-made header and data section. */
function file(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => readSafetensors(bytes, { fileName: 'w.safetensors' }),
    (e: unknown) => e instanceof WeightsError && e.message.startsWith('`w.safetensors`: ') && pattern.test(e.message),
  );
}

describe('weights: safetensors', () => {
  test('write then read round-trips every host dtype, in order, with metadata', () => {
    const tensors: NamedTensors = new Map<string, HostTensor>([
      ['a.weight', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -Infinity]) }],
      ['a.num_batches_tracked', { dtype: 'int64', shape: [], data: BigInt64Array.from([2n ** 60n]) }],
      ['ids', { dtype: 'int32', shape: [3], data: Int32Array.from([-1, 0, 2 ** 31 - 1]) }],
      ['px', { dtype: 'uint8', shape: [1, 2], data: Uint8Array.from([0, 255]) }],
      ['mask', { dtype: 'bool', shape: [2], data: Uint8Array.from([1, 0]) }],
      ['empty', { dtype: 'float32', shape: [0, 5], data: new Float32Array(0) }],
    ]);
    const bytes = writeSafetensors(tensors, { metadata: { format: 'pt' } });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((8 + headerLength) % 8, 0, 'data section aligned to 8 bytes');
    const back = readSafetensors(bytes);
    assert.deepEqual([...back.keys()], [...tensors.keys()]);
    for (const [k, t] of tensors) {
      const b = back.get(k)!;
      assert.equal(b.dtype, t.dtype, k);
      assert.deepEqual(b.shape, t.shape, k);
      assert.ok(bytesOf(b).equals(bytesOf(t)), `values of ${k}`);
    }
    assert.deepEqual(parseSafetensorsHeader(bytes).metadata, { format: 'pt' });
    // float64 is read back as float32, like every float.
    const f64 = readSafetensors(writeSafetensors(new Map([['x', { dtype: 'float64', shape: [2], data: Float64Array.from([0.1, 2]) }]])));
    assert.equal(f64.get('x')!.dtype, 'float32');
    assert.deepEqual([...(f64.get('x')!.data as Float32Array)], [Math.fround(0.1), 2]);
  });

  test('a file laid out like the safetensors library writes matches torch (F64, F16, BF16, I8, ...)', { skip: torchSkip() }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headstart-st-'));
    try {
      const r = spawnSync(PYTHON, ['scripts/weights_make_safetensors.py', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const rows = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { name: string; dtype: string; shape: number[]; file: string }[];
      const loaded = await loadSafetensors(join(dir, 'model.safetensors'));
      assert.deepEqual(
        [...loaded.keys()],
        rows.map((r) => r.name),
        'file order',
      );
      for (const row of rows) {
        const t = loaded.get(row.name)!;
        assert.equal(t.dtype, row.dtype, row.name);
        assert.deepEqual(t.shape, row.shape, row.name);
        assert.ok(bytesOf(t).equals(readFileSync(join(dir, row.file))), `values of ${row.name}`);
      }
      assert.equal(parseSafetensorsHeader(readFileSync(join(dir, 'model.safetensors'))).metadata.format, 'pt');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('header validation: truncation, offsets, dtypes and JSON each get a clear error', () => {
    const four = new Uint8Array(16);
    const ok = { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } };
    assert.equal(readSafetensors(file(ok, four)).get('w')!.shape[0], 4);

    const whole = file(ok, four);
    rejects(whole.subarray(0, whole.length - 3), /truncated or offsets out of range: tensor `w` ends at data byte 16, but the file has 13 data bytes/);
    rejects(whole.subarray(0, 5), /truncated: 5 bytes/);
    rejects(whole.subarray(0, 20), /truncated: the header says \d+ header bytes but only 12 follow/);
    rejects(file({ w: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, new Uint8Array(16)), /leave a gap after byte 0/);
    rejects(
      file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
      /tensor `b`: data_offsets \[4, 12\] overlap the previous tensor/,
    );
    rejects(file({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, four), /span 16 bytes, but F32 \[3\] needs 12/);
    rejects(file({ w: { dtype: 'Q4', shape: [4], data_offsets: [0, 16] } }, four), /tensor `w` has an unknown dtype `Q4`/);
    rejects(file({ w: { dtype: 'U16', shape: [8], data_offsets: [0, 16] } }, four), /dtype U16, which headstart does not read/);
    rejects(file({ w: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, four), /shape must be a list of non-negative integers/);
    rejects(file({ w: { dtype: 'F32', shape: [4], data_offsets: [16, 0] } }, four), /data_offsets must be \[begin, end\]/);
    rejects(file(ok, new Uint8Array(20)), /4 bytes after the last tensor are not described/);
    rejects(file(null, four, '{"w": '), /the header is not valid JSON/);
    rejects(file(null, four, '[1,2]'), /the header is not a JSON object/);
    rejects(file({ __metadata__: { a: 1 } }), /__metadata__ must map strings to strings/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    rejects(huge, /header length \d+ exceeds/);
  });

  test('loadSafetensors names a missing file; bad options are rejected', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headstart-st-'));
    try {
      writeFileSync(join(dir, 'x.safetensors'), writeSafetensors(new Map()));
      assert.equal((await loadSafetensors(join(dir, 'x.safetensors'))).size, 0);
      await assert.rejects(loadSafetensors(join(dir, 'nope.safetensors')), { code: 'E_NOT_FOUND', name: 'IOError', message: /nope\.safetensors.*ENOENT/ });
      assert.throws(() => writeSafetensors(new Map(), { meta: {} } as never), { code: 'E_BAD_OPTION', message: /Invalid safetensors writer options/ });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
