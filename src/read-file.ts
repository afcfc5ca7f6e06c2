/**
 * Reading an input file whole, with one error for every reader (weight files, model files,
 * checkpoints, images): IOError E_NOT_FOUND when the path does not exist, E_READ_FAILED
 * otherwise, naming the file and the system's reason.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { IOError } from './errors.js';

/** The IOError for a failed read of `path`; `what` names the file ('weight file', 'the checkpoint'). */
function readFailure(path: string, what: string, cause: unknown, hint?: string): IOError {
  const errno = (cause as NodeJS.ErrnoException | undefined)?.code;
  const code = errno === 'ENOENT' || errno === 'ENOTDIR' ? 'E_NOT_FOUND' : 'E_READ_FAILED';
  return new IOError(code, `Cannot read ${what} \`${path}\`: ${errno ?? (cause as Error)?.message ?? String(cause)}`, { hint, cause });
}

/** Reads a file's bytes, or throws IOError (E_NOT_FOUND / E_READ_FAILED) naming it. */
export async function readFileOrThrow(path: string, what: string, hint?: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw readFailure(path, what, cause, hint);
  }
}

/** The synchronous form, for small files read while other work runs (images in the loader). */
export function readFileSyncOrThrow(path: string, what: string, hint?: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw readFailure(path, what, cause, hint);
  }
}
