/**
 * A run's output folder: created when missing (with its parents); a path that names a file,
 * or a folder that cannot be created, is an error in our words rather than a raw EEXIST.
 * `removeIfEmpty` takes back a folder the run created and left empty (interrupted before
 * anything was written).
 */
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { IOError } from '../errors.js';

/** Creates `dir` if needed; returns whether this call created it. */
export async function makeOutDir(dir: string, flag = '--out'): Promise<boolean> {
  const existing = await stat(dir).catch(() => null);
  if (existing) {
    if (existing.isDirectory()) return false;
    throw new IOError('E_WRITE_FAILED', `${flag} \`${dir}\` is a file, not a folder`, { hint: `give a folder path for ${flag} (it is created when missing), or move the file away` });
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way on its path' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (code ?? (err as Error).message);
    throw new IOError('E_WRITE_FAILED', `Cannot create the output folder \`${dir}\` for ${flag}: ${why}`, { hint: 'give a folder path you can write to', cause: err });
  }
  return true;
}

/** Removes `dir` if it is empty (a run created it and wrote nothing); true when removed. */
export async function removeIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch {
    return false;
  }
}
