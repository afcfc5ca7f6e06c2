/**
 * Checkpoints: a bit-exact round trip, clear errors for foreign or damaged files, and
 * atomicity — a writer killed (SIGKILL) at a random moment mid-write leaves either the old
 * checkpoint or the new one, never a partial file.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TrainingError } from '../src/errors.js';
import { removeStaleTemps, writeFileAtomic } from '../src/atomic-write.js';
import { decodeCheckpoint, encodeCheckpoint, readCheckpoint, writeCheckpoint } from '../src/train/checkpoint.js';
import { makeCheckpointState as makeState, tempDir } from './train-fixtures.js';

test('a checkpoint round-trips bit for bit (Maps, Float32Arrays, NaN payloads)', () => {
  const s = makeState(3, 5);
  (s.params.get('w')!.data as Float32Array)[1] = -0;
  (s.params.get('w')!.data as Float32Array)[2] = 1e-45;
  const back = decodeCheckpoint(encodeCheckpoint(s));
  assert.equal(back.epoch, 3);
  assert.deepEqual(back.params.get('w')!.data, s.params.get('w')!.data);
  assert.ok(Object.is((back.params.get('w')!.data as Float32Array)[1], -0));
  assert.deepEqual(back.optimizer, s.optimizer);
  assert.deepEqual(back.config, s.config);
});

test('a foreign, truncated or damaged file is a TrainingError that says so', async () => {
  const bytes = encodeCheckpoint(makeState(1, 1000));
  assert.throws(
    () => decodeCheckpoint(new Uint8Array(Buffer.from('PK\x03\x04 not a checkpoint'))),
    (e: unknown) => e instanceof TrainingError && /header/.test(e.message),
  );
  assert.throws(
    () => decodeCheckpoint(bytes.subarray(0, bytes.length - 100)),
    (e: unknown) => e instanceof TrainingError && /damaged|not a valid/.test(e.message),
  );
  const dir = await tempDir();
  await assert.rejects(readCheckpoint(join(dir, 'nope.bin')), /Cannot read the checkpoint/);
});

test('writeFileAtomic replaces the file whole and leaves no temp file', async () => {
  const dir = await tempDir();
  const path = join(dir, 'f.bin');
  writeFileSync(path, 'old');
  await writeFileAtomic(path, 'new contents');
  assert.equal(readFileSync(path, 'utf8'), 'new contents');
  assert.deepEqual(readdirSync(dir), ['f.bin']);
  // A write that fails (target folder gone) throws and leaves nothing behind.
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'g.bin'), 'x'));
  assert.deepEqual(readdirSync(dir), ['f.bin']);
});

test('a writer killed mid-write never leaves a partial checkpoint', async () => {
  const dir = await tempDir();
  const path = join(dir, 'checkpoint.bin');
  await writeCheckpoint(path, makeState(0, 1));
  const child = fileURLToPath(new URL('./train-checkpoint-writer.ts', import.meta.url));
  let leftovers = 0;
  // Kill at several moments until one lands mid-write (timing varies with machine load).
  for (const killAfterMs of [10, 80, 5, 40, 120, 20, 60, 1]) {
    if (leftovers >= 1 && killAfterMs !== 80) continue;
    const { params: _p, best: _b, ...template } = makeState(0, 1);
    const p = spawn(process.execPath, ['--import', 'tsx', child, path, JSON.stringify([template])], { stdio: ['ignore', 'pipe', 'inherit'] });
    // Wait until it has started writing, then kill it at an arbitrary moment.
    await new Promise<void>((resolve) => p.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, killAfterMs));
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
    const s = await readCheckpoint(path); // throws on a partial file
    const w = s.params.get('w')!.data as Float32Array;
    assert.ok(
      w.every((v) => v === s.epoch),
      `a consistent checkpoint (epoch ${s.epoch})`,
    );
    assert.ok(w.length === 1 || w.length === 1_000_000);
    // A temp file left behind shows the kill landed mid-write; resume cleans such files up.
    leftovers += await removeStaleTemps(path);
  }
  assert.ok(leftovers >= 1, 'at least one kill landed in the middle of a write');
  assert.deepEqual(readdirSync(dir), ['checkpoint.bin']);
  assert.ok(existsSync(path));
});
