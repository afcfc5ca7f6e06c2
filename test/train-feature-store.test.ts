/**
 * The feature cache on disk: written as computed, read back in chunks; a truncated file, one
 * from another version or a damaged one is rebuilt with a note (never read as features); two
 * runs that want the same entry at once compute it once (in one process, and across processes);
 * a stale lock (its process gone or killed) is taken over and the partial file it left removed.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { acquireLock } from '../src/train/cache-lock.js';
import { readFeatureCache } from '../src/train/feature-cache.js';
import { checkStore, closeStore } from '../src/train/feature-store.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

function watcher() {
  const seen = { extracts: 0, notes: [] as string[] };
  return {
    seen,
    listener: {
      phase_start: (e: { phase: string }) => void (seen.extracts += e.phase === 'extract' ? 1 : 0),
      log: (e: { level: string; message: string }) => void (e.level === 'warn' && seen.notes.push(e.message)),
    },
  };
}

test('a truncated cache file and one from another version are rebuilt with a note, never read', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir } as const;
  const first = await train(root, { ...base, out: await tempDir() });
  const path = first.featureCache!.path;
  const good = readFeatureCache(path);
  assert.ok('set' in good);
  const size = statSync(path).size;
  const damage: [string, () => void, RegExp][] = [
    ['truncated', () => truncateSync(path, Math.floor(size / 2)), /truncated/],
    ['another version', () => writeFileSync(path, Buffer.concat([Buffer.from('HSFEAT01'), readFileSync(path).subarray(8)])), /another version/],
    ['not a cache', () => writeFileSync(path, 'hello'), /truncated|not a headstart/],
  ];
  for (const [what, hurt, expected] of damage) {
    hurt();
    const r = readFeatureCache(path);
    assert.ok('problem' in r && expected.test(r.problem), `${what}: ${JSON.stringify(r)}`);
    const w = watcher();
    const again = await train(root, { ...base, out: await tempDir() }, { listeners: [w.listener] });
    assert.equal(again.featureCache?.hit, false, `${what}: recomputed`);
    assert.equal(w.seen.extracts, 1);
    assert.ok(
      w.seen.notes.some((n) => expected.test(n) && n.includes(path)),
      `${what}: a note names the file and the problem: ${w.seen.notes.join(' | ')}`,
    );
    const back = readFeatureCache(path);
    assert.ok('set' in back, `${what}: the rebuilt file reads`);
    assert.deepEqual(back.set.train.views, good.set.train.views, `${what}: same features as before`);
    assert.deepEqual(back.set.val.paths, good.set.val.paths);
  }
  assert.deepEqual(
    readdirSync(cacheDir).filter((f) => !f.endsWith('.bin')),
    [],
    'no temp or lock files left',
  );
});

test('two runs that want the same features at once: one computes, the other waits and reads', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir } as const;
  const a = watcher();
  const b = watcher();
  const [ra, rb] = await Promise.all([train(root, { ...base, out: await tempDir() }, { listeners: [a.listener] }), train(root, { ...base, out: await tempDir() }, { listeners: [b.listener] })]);
  assert.equal(a.seen.extracts + b.seen.extracts, 1, 'the backbone ran once');
  assert.deepEqual([ra.featureCache?.hit, rb.featureCache?.hit].sort(), [false, true]);
  assert.ok(
    [...a.seen.notes, ...b.seen.notes].some((n) => /waiting for process/.test(n)),
    'the waiting run says so',
  );
  const c = checkStore(ra.featureCache!.path);
  assert.ok(c.ok);
  closeStore(c.fd);
  assert.deepEqual(
    readdirSync(cacheDir).filter((f) => !f.endsWith('.bin')),
    [],
  );
});

test('a lock left by a process that is gone is taken over; a live one is waited for', async () => {
  const dir = await tempDir('lock-');
  const path = join(dir, 'x.lock');
  const child = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  const deadPid = Number(child.stdout.trim());
  writeFileSync(path, JSON.stringify({ pid: deadPid, host: (await import('node:os')).hostname(), started: new Date().toISOString() }));
  const notes: string[] = [];
  const lock = await acquireLock(path, { onNote: (m) => notes.push(m), pollMs: 20 });
  assert.ok(
    notes.some((n) => n.includes(`process ${deadPid} is gone`)),
    notes.join(' | '),
  );
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  // A second taker waits until the first releases.
  let second = false;
  const waiting = acquireLock(path, { pollMs: 20 }).then((l) => {
    second = true;
    return l;
  });
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(second, false, 'the live lock is respected');
  await lock.release();
  const l2 = await waiting;
  assert.equal(second, true);
  await l2.release();
  assert.deepEqual(readdirSync(dir), []);
  // A lock untouched for longer than staleMs is stale too (a crashed run on another host).
  writeFileSync(path, JSON.stringify({ pid: 1, host: 'elsewhere', started: '2020-01-01' }));
  const old = new Date(Date.now() - 60_000);
  (await import('node:fs')).utimesSync(path, old, old);
  const l3 = await acquireLock(path, { staleMs: 30_000, pollMs: 20, onNote: (m) => notes.push(m) });
  assert.ok(notes.some((n) => /untouched for/.test(n)));
  await l3.release();
  // An empty lock file (its writer died between creating and filling it) is damaged once a few seconds old, not before.
  writeFileSync(path, '');
  let fourth = false;
  const l4p = acquireLock(path, { pollMs: 20, onNote: (m) => notes.push(m) }).then((l) => ((fourth = true), l));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(fourth, false, 'a fresh empty lock may be being written: waited for');
  const older = new Date(Date.now() - 10_000);
  (await import('node:fs')).utimesSync(path, older, older);
  const l4 = await l4p;
  assert.ok(
    notes.some((n) => /empty or damaged/.test(n)),
    notes.join(' | '),
  );
  await l4.release();
  assert.deepEqual(readdirSync(dir), []);
});

test('a run killed while extracting (its lock and partial file left behind): the next run takes over, removes the partial file and computes', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir } as const;
  const first = await train(root, { ...base, out: await tempDir() });
  const path = first.featureCache!.path;
  const good = readFeatureCache(path);
  assert.ok('set' in good);
  // What a killed run leaves: no finished file, its lock, its partial temp file.
  rmSync(path);
  const deadPid = Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
  writeFileSync(`${path}.lock`, JSON.stringify({ pid: deadPid, host: hostname(), started: new Date().toISOString() }));
  writeFileSync(`${path}.tmp-${deadPid}`, Buffer.concat([Buffer.from('HSFEAT02'), Buffer.alloc(4096, 7)]));
  const w = watcher();
  const again = await train(root, { ...base, out: await tempDir() }, { listeners: [w.listener] });
  assert.equal(again.featureCache?.hit, false);
  assert.equal(w.seen.extracts, 1);
  assert.ok(
    w.seen.notes.some((n) => n.includes(`process ${deadPid} is gone`)),
    w.seen.notes.join(' | '),
  );
  assert.ok(
    w.seen.notes.some((n) => n.includes(`tmp-${deadPid}`) && /partial cache file/.test(n)),
    w.seen.notes.join(' | '),
  );
  const back = readFeatureCache(path);
  assert.ok('set' in back);
  assert.deepEqual(back.set.train.views, good.set.train.views);
  assert.deepEqual(readdirSync(cacheDir), [basename(path)], 'only the finished cache file is left');
});

test('another process holding the lock is waited for; when it is killed (SIGKILL), its lock is taken over and the features computed once', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1, cacheDir } as const;
  const path = (await train(root, { ...base, out: await tempDir() })).featureCache!.path;
  rmSync(path);
  const lockModule = new URL('../src/train/cache-lock.ts', import.meta.url).href;
  const holder = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `const { acquireLock } = await import(${JSON.stringify(lockModule)}); await acquireLock(${JSON.stringify(`${path}.lock`)}); console.log('locked'); setInterval(() => {}, 1000);`,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
      holder.on('exit', (code) => reject(new Error(`the lock holder exited early (${code})`)));
    });
    const w = watcher();
    const running = train(root, { ...base, out: await tempDir() }, { listeners: [w.listener] });
    const deadline = Date.now() + 120_000;
    while (!w.seen.notes.some((n) => n.includes(`waiting for process ${holder.pid}`))) {
      assert.ok(Date.now() < deadline, `no waiting note: ${w.seen.notes.join(' | ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(w.seen.extracts, 0, 'nothing computed while the other process holds the lock');
    holder.kill('SIGKILL');
    const r = await running;
    assert.equal(r.featureCache?.hit, false);
    assert.equal(w.seen.extracts, 1);
    assert.ok(
      w.seen.notes.some((n) => n.includes(`process ${holder.pid} is gone`)),
      w.seen.notes.join(' | '),
    );
    assert.deepEqual(readdirSync(cacheDir), [basename(path)]);
  } finally {
    holder.kill('SIGKILL');
  }
});
