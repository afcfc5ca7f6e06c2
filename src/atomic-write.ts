/**
 * Writes a file so that a crash at any moment leaves either the old file or the complete
 * new one at `path`, never a partial one: write a temp file beside it, fsync it, rename it
 * over the target (atomic on POSIX file systems), then fsync the folder so the rename itself
 * survives a power cut. A failure is an IOError E_WRITE_FAILED naming `path` (and `what` it is).
 */
import { randomBytes } from 'node:crypto';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IOError } from './errors.js';

const TMP = /\.[0-9a-f]{12}\.tmp$/;

function writeFailure(path: string, what: string, cause: unknown): IOError {
  const reason = (cause as NodeJS.ErrnoException | undefined)?.code ?? (cause as Error)?.message ?? String(cause);
  return new IOError('E_WRITE_FAILED', `Cannot write ${what} \`${path}\`: ${reason}`, { hint: 'check that the folder exists and is writable, and that the disk has room', cause });
}

export async function writeFileAtomic(path: string, data: Uint8Array | string, what = 'the file'): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(tmp, 'wx').catch((err: unknown) => {
    throw writeFailure(path, what, err);
  });
  try {
    await file.writeFile(data);
    await file.sync();
  } catch (err) {
    await file.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw writeFailure(path, what, err);
  }
  await file.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw writeFailure(path, what, err);
  }
  const dir = await open(dirname(path), 'r').catch(() => undefined);
  if (dir)
    await dir
      .sync()
      .catch(() => {})
      .finally(() => dir.close());
}

/** Removes temp files a crashed writer left beside `path`; returns how many. */
export async function removeStaleTemps(path: string): Promise<number> {
  const name = basename(path);
  let n = 0;
  const entries = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const e of entries) {
    if (e.startsWith(`${name}.`) && TMP.test(e)) {
      await unlink(join(dirname(path), e)).catch(() => {});
      n++;
    }
  }
  return n;
}
