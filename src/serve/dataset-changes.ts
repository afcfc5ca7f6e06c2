/**
 * Changes the review page makes to a dataset: relabel (move an image to another class folder
 * of its split), remove (move it to `.headstart-trash/` inside the dataset root), mark as fine,
 * and undo them one by one or all at once. Every change is appended to
 * `.headstart-changes.jsonl` in the dataset root; nothing is ever deleted or overwritten (a
 * name clash gets a suffix); files move only within the root. Each change holds the lock file
 * `.headstart-changes.lock` (created exclusively), so two tabs or two servers on one dataset
 * cannot interleave moves; a lock left by a process that died (its pid not running, or
 * untouched for 10 minutes) is taken over with a note. Hidden names (leading '.') are ignored by the data loader, so the
 * log, the lock and the trash never become data.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, link, lstat, mkdir, open, readdir, readFile, realpath, rename, rmdir, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import { ConfigError } from '../errors.js';
import { confinedPath } from './confined-path.js';
import { processAlive } from '../process-alive.js';

const CHANGE_LOG = '.headstart-changes.jsonl';
const CHANGE_LOCK = '.headstart-changes.lock';
const TRASH = '.headstart-trash';

export interface DatasetChange {
  id: string;
  time: string;
  op: 'relabel' | 'remove' | 'fine' | 'undo';
  /** Paths relative to the dataset root, with '/' separators. */
  from?: string;
  to?: string;
  /** The change an undo reverts. */
  undoes?: string;
  /** A doctor finding marked as fine: its kind ('duplicate', 'leak') and every path it names. */
  about?: string;
  paths?: string[];
  /** Not logged: a note for the caller (a stale lock recovered before this change). */
  note?: string;
}

/** A lock older than this (its file's mtime, refreshed while held) is stale whatever its pid says. */
const STALE_LOCK_MS = 10 * 60_000;

const posix = (p: string) => p.split(sep).join('/');

async function readLog(root: string): Promise<DatasetChange[]> {
  const path = join(root, CHANGE_LOG);
  if (!existsSync(path)) return [];
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as DatasetChange);
}

/** Changes that moved a file and have not been undone, oldest first. */
function pending(log: readonly DatasetChange[]): DatasetChange[] {
  const undone = new Set(log.filter((c) => c.op === 'undo').map((c) => c.undoes));
  return log.filter((c) => (c.op === 'relabel' || c.op === 'remove') && !undone.has(c.id));
}

/** Moves `from` to `to` without ever replacing a file: a hard link fails on an existing name, then the old name goes. */
async function moveNoClobber(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  try {
    await link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw err;
    // No hard links on this file system: check, then rename (the lock keeps other headstart processes out).
    if (existsSync(to)) throw Object.assign(new Error(`${to} exists`), { code: 'EEXIST' });
    await rename(from, to);
    return;
  }
  await unlink(from);
}

/** `dir/name.ext`, or `dir/name-1.ext`, `-2`, ... when taken. */
function freeName(dir: string, name: string): string {
  const ext = extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; ; i++) {
    const candidate = join(dir, i === 0 ? name : `${stem}-${i}${ext}`);
    if (!existsSync(candidate)) return candidate;
  }
}

export class DatasetChanges {
  private constructor(
    /** The dataset root's real path. */
    readonly root: string,
  ) {}

  static async open(root: string): Promise<DatasetChanges> {
    return new DatasetChanges(await realpath(root));
  }

  /** Why the lock file's holder is gone (its pid is not running here, or it is older than STALE_LOCK_MS), or null while it may be alive. */
  private async staleLock(lockPath: string, content: string): Promise<string | null> {
    const [pidText, , host] = content.trim().split(' ');
    const pid = Number(pidText);
    const age = Date.now() - (await stat(lockPath)).mtimeMs;
    if (age > STALE_LOCK_MS) return `it is ${Math.round(age / 60_000)} minutes old (pid ${pidText || '?'})`;
    const sameHost = host === undefined || host === hostname();
    if (sameHost && Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) return `its process ${pid} is not running`;
    if (content.trim() === '' && age > 5_000) return 'it is empty (its process died while creating it)';
    return null;
  }

  async log(): Promise<DatasetChange[]> {
    return readLog(this.root);
  }

  private queue: Promise<unknown> = Promise.resolve();

  /** Runs `work` after this object's earlier changes (two tabs of one server take turns), holding the dataset's lock file. */
  private locked<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => this.withLockFile(work));
    this.queue = next.catch(() => {});
    return next;
  }

  /**
   * Runs `work` holding the lock file; a lock held by another live process (another server on
   * the dataset) is refused. A stale lock (its process gone, or untouched for STALE_LOCK_MS) is
   * taken over, and the returned change carries a note saying so.
   */
  private async withLockFile<T>(work: () => Promise<T>): Promise<T> {
    const lockPath = join(this.root, CHANGE_LOCK);
    let fh;
    let note: string | undefined;
    for (let attempt = 0; !fh; attempt++) {
      try {
        fh = await open(lockPath, 'wx');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const content = await readFile(lockPath, 'utf8').catch(() => '');
        const stale = attempt === 0 ? await this.staleLock(lockPath, content).catch(() => null) : null;
        if (stale === null) {
          const holder = Number(content.split(' ')[0]);
          throw new ConfigError('E_DATASET_LOCKED', `the dataset \`${this.root}\` is being changed by another headstart process${holder ? ` (pid ${holder})` : ''}`, {
            hint: `try again in a moment; a lock whose process has exited (or untouched for ${STALE_LOCK_MS / 60_000} minutes) is taken over by itself`,
          });
        }
        // Take it over only if it is still the lock judged stale (not one another process just made).
        if ((await readFile(lockPath, 'utf8').catch(() => null)) !== content) continue;
        await unlink(lockPath).catch(() => {});
        note = `recovered a stale lock on the dataset's change log (${CHANGE_LOCK}): ${stale}`;
      }
    }
    try {
      await fh.writeFile(`${process.pid} ${new Date().toISOString()} ${hostname()}\n`);
      await fh.close();
      // The heartbeat: a long change (undo all of many moves) keeps its lock fresh.
      const beat = setInterval(() => void utimes(lockPath, new Date(), new Date()).catch(() => {}), 30_000);
      beat.unref();
      const result = await work().finally(() => clearInterval(beat));
      if (note && result && typeof result === 'object' && !Array.isArray(result)) (result as { note?: string }).note = note;
      return result;
    } finally {
      await unlink(lockPath).catch(() => {});
    }
  }

  /** An image file of the dataset (not in the trash, not hidden, not a symlink), as its real path and its split/class. */
  private async image(rel: string): Promise<{ path: string; rel: string; parts: string[] }> {
    if (rel.split(/[\\/]/).some((p) => p.startsWith('.') && p !== '..')) throw new ConfigError('E_OUTSIDE_ROOT', `\`${rel}\` is a hidden file or in the trash, not an image of the dataset`);
    const path = await confinedPath(this.root, rel);
    const r = posix(relative(this.root, path));
    const parts = r.split('/');
    if (parts.some((p) => p.startsWith('.'))) throw new ConfigError('E_OUTSIDE_ROOT', `\`${rel}\` is a hidden file or in the trash, not an image of the dataset`);
    if (!(await lstat(path)).isFile()) throw new ConfigError('E_BAD_ARGUMENT', `\`${rel}\` is not a file`);
    if (parts.length < 2) throw new ConfigError('E_BAD_ARGUMENT', `\`${rel}\` is not inside a class folder`);
    return { path, rel: r, parts };
  }

  private async append(change: Omit<DatasetChange, 'id' | 'time'>): Promise<DatasetChange> {
    const full: DatasetChange = { id: randomUUID(), time: new Date().toISOString(), ...change };
    await appendFile(join(this.root, CHANGE_LOG), `${JSON.stringify(full)}\n`);
    return full;
  }

  /** Moves an image to the folder of class `toClass` in the same split; the class must already exist in the dataset. */
  async relabel(rel: string, toClass: string): Promise<DatasetChange> {
    return this.locked(async () => {
      const img = await this.image(rel);
      if (!/^[^/\\\0]+$/.test(toClass) || toClass.startsWith('.')) {
        throw new ConfigError('E_OUTSIDE_ROOT', `\`${toClass}\` is not a class folder name`, { hint: 'relabel to one of the dataset’s class folders' });
      }
      const classDir = dirname(img.path);
      const splitDir = dirname(classDir);
      const target = join(splitDir, toClass);
      if (!existsSync(target) || !(await lstat(target)).isDirectory()) {
        const classes = (await readdir(splitDir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
        throw new ConfigError('E_BAD_ARGUMENT', `there is no class folder \`${toClass}\` next to \`${posix(relative(this.root, classDir))}\``, { hint: `classes: ${classes.join(', ')}` });
      }
      if (target === classDir) throw new ConfigError('E_BAD_ARGUMENT', `\`${rel}\` is already in class \`${toClass}\``);
      const to = freeName(target, basename(img.path));
      await moveNoClobber(img.path, to);
      return this.append({ op: 'relabel', from: img.rel, to: posix(relative(this.root, to)) });
    });
  }

  /** Moves an image to `.headstart-trash/<its path>` inside the dataset root. */
  async remove(rel: string): Promise<DatasetChange> {
    return this.locked(async () => {
      const img = await this.image(rel);
      const to = freeName(join(this.root, TRASH, ...img.parts.slice(0, -1)), basename(img.path));
      await moveNoClobber(img.path, to);
      return this.append({ op: 'remove', from: img.rel, to: posix(relative(this.root, to)) });
    });
  }

  /** Records that a doctor finding (`about`: its kind) was looked at and its images are fine (nothing moves). */
  async markFindingFine(about: string, paths: readonly string[]): Promise<DatasetChange> {
    return this.locked(async () => {
      const rels: string[] = [];
      for (const p of paths) rels.push((await this.image(p)).rel);
      return this.append({ op: 'fine', from: rels[0], about, paths: rels });
    });
  }

  /** Records that an image was looked at and is fine (nothing moves). */
  async markFine(rel: string): Promise<DatasetChange> {
    return this.locked(async () => this.append({ op: 'fine', from: (await this.image(rel)).rel }));
  }

  private async revert(change: DatasetChange): Promise<DatasetChange> {
    const from = join(this.root, ...change.to!.split('/'));
    const back = join(this.root, ...change.from!.split('/'));
    if (existsSync(back)) {
      throw new ConfigError('E_BAD_ARGUMENT', `cannot undo: \`${change.from}\` exists again (another file took its name)`, { hint: 'move that file away first; nothing was changed' });
    }
    await confinedPath(this.root, change.to!); // the moved file is still inside the root
    await moveNoClobber(from, back);
    // Trash folders left empty by the undo go (folders only; a folder with anything in it stays).
    if (change.op === 'remove') {
      for (let dir = dirname(from); dir.startsWith(join(this.root, TRASH)); dir = dirname(dir)) {
        if ((await readdir(dir)).length > 0) break;
        await rmdir(dir);
      }
    }
    return this.append({ op: 'undo', undoes: change.id, from: change.to, to: change.from });
  }

  /** Undoes the last change not yet undone (or the one with `id`). */
  async undo(id?: string): Promise<DatasetChange> {
    return this.locked(async () => {
      const open = pending(await readLog(this.root));
      const change = id === undefined ? open.at(-1) : open.find((c) => c.id === id);
      if (!change) throw new ConfigError('E_NOT_FOUND', id === undefined ? 'nothing to undo' : `no change \`${id}\` that can be undone`);
      return this.revert(change);
    });
  }

  /** Undoes every change not yet undone, newest first; returns the undo entries. */
  async undoAll(): Promise<DatasetChange[]> {
    return this.locked(async () => {
      const out: DatasetChange[] = [];
      for (const change of pending(await readLog(this.root)).reverse()) out.push(await this.revert(change));
      return out;
    });
  }
}
