/**
 * Changes the review page makes to a dataset: relabel (move an image to another class folder
 * of its split), remove (move it to `.headstart-trash/` inside the dataset root), mark as fine,
 * and undo them one by one or all at once. Every change is appended to
 * `.headstart-changes.jsonl` in the dataset root; nothing is ever deleted or overwritten (a
 * name clash gets a suffix); files move only within the root. Each change holds the lock file
 * `.headstart-changes.lock` (created exclusively), so two tabs or two servers on one dataset
 * cannot interleave moves. Hidden names (leading '.') are ignored by the data loader, so the
 * log, the lock and the trash never become data.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, link, lstat, mkdir, open, readdir, readFile, realpath, rename, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import { ConfigError } from '../errors.js';
import { confinedPath } from './confined-path.js';

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
}

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

  /** Runs `work` holding the lock file; a lock held by another process (another server on the dataset) is refused. */
  private async withLockFile<T>(work: () => Promise<T>): Promise<T> {
    const lockPath = join(this.root, CHANGE_LOCK);
    let fh;
    try {
      fh = await open(lockPath, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(lockPath, 'utf8').catch(() => '')).split(' ')[0]);
      throw new ConfigError('E_DATASET_LOCKED', `the dataset \`${this.root}\` is being changed by another headstart process${holder ? ` (pid ${holder})` : ''}`, {
        hint: `try again in a moment; if no headstart is running, delete ${lockPath}`,
      });
    }
    try {
      await fh.writeFile(`${process.pid} ${new Date().toISOString()}\n`);
      await fh.close();
      return await work();
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
