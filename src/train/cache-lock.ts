/**
 * A lock file for a cache entry that two runs may want to compute at once: one computes,
 * the other waits, then reads what the first wrote. The lock is created exclusively
 * (O_EXCL) and holds {pid, host, started}; its holder touches it as it works. A lock whose
 * process is gone (same host), that has not been touched for `staleMs` (a crashed run on
 * another host sharing the folder) or that is still empty or unreadable seconds after it was
 * created (its writer died in between) is stale: it is taken over, with a note.
 */
import { hostname } from 'node:os';
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { IOError } from '../errors.js';
import { processAlive } from '../process-alive.js';

export interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

export interface LockOptions {
  /** A lock untouched for this long is stale (default 10 minutes). */
  staleMs?: number;
  /** How often a waiter looks again (default 500 ms). */
  pollMs?: number;
  /** Called once when the lock is held by another live run, and when a stale lock is taken over. */
  onNote?: (message: string) => void;
  /** Called while waiting; throw from it to stop waiting (e.g. on an interrupt). */
  checkStop?: () => void;
}

export interface Lock {
  /** Marks the lock as alive (cheap; call it as work progresses). */
  touch(): void;
  release(): Promise<void>;
}

async function readHolder(path: string): Promise<{ holder: LockHolder | null; text: string; mtimeMs: number } | null> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    let holder: LockHolder | null = null;
    try {
      holder = JSON.parse(text) as LockHolder;
    } catch {
      holder = null; // being written, or damaged: judged by age alone
    }
    return { holder, text, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A lock file that is still not {pid, host, started} this long after it was written is damaged. */
const DAMAGED_AFTER_MS = 5000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function acquireLock(path: string, options: LockOptions = {}): Promise<Lock> {
  const staleMs = options.staleMs ?? 10 * 60_000;
  const pollMs = options.pollMs ?? 500;
  const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const mine = JSON.stringify(me);
  let waitingNoted = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(mine);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new IOError('E_WRITE_FAILED', `Cannot create the lock file \`${path}\`: ${(err as Error).message}`, {
          hint: 'check that the cache folder is writable (or choose another with --cache-dir)',
          cause: err,
        });
      }
    }
    const seen = await readHolder(path);
    if (!seen) continue; // released in between: try again at once
    const h = seen.holder;
    const dead = h !== null && h.host === me.host && !processAlive(h.pid);
    const old = Date.now() - seen.mtimeMs > staleMs;
    // Unreadable for longer than a write takes: its writer died between creating and filling it.
    const damaged = h === null && Date.now() - seen.mtimeMs > DAMAGED_AFTER_MS;
    if (dead || old || damaged) {
      // Take it over: move it aside first, so of two waiters only one removes it.
      const again = await readHolder(path);
      if (again && again.text === seen.text) {
        const aside = `${path}.stale-${process.pid}`;
        try {
          await rename(path, aside);
          await unlink(aside);
          const why = dead
            ? `process ${h.pid} is gone`
            : damaged
              ? `it is empty or damaged (${JSON.stringify(seen.text.slice(0, 40))})`
              : `untouched for ${Math.round((Date.now() - seen.mtimeMs) / 1000)} s`;
          options.onNote?.(`lock \`${path}\` was stale (${why}); taking it over`);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      continue;
    }
    if (!waitingNoted) {
      waitingNoted = true;
      options.onNote?.(`waiting for ${h ? `process ${h.pid} on ${h.host}` : 'another run'}, which holds \`${path}\` (computing the same cache entry)`);
    }
    options.checkStop?.();
    await sleep(pollMs);
  }
  let lastTouch = Date.now();
  return {
    touch() {
      const now = Date.now();
      if (now - lastTouch < 2000) return;
      lastTouch = now;
      void utimes(path, now / 1000, now / 1000).catch(() => undefined);
    },
    async release() {
      const seen = await readHolder(path).catch(() => null);
      if (seen && seen.text === mine) await unlink(path).catch(() => undefined);
    },
  };
}
