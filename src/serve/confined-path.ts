/**
 * Resolves a relative path requested by the web app inside one root folder, through realpath:
 * `..` segments, encoded traversal (decoded before this is called), absolute paths, NUL bytes
 * and symlinks that point outside the root are refused before anything is read.
 */
import { realpath } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { ConfigError } from '../errors.js';

/** The real path of `requested` (relative to `root`) when it stays inside the root's real path; throws E_OUTSIDE_ROOT or E_NOT_FOUND. */
export async function confinedPath(root: string, requested: string): Promise<string> {
  const refuse = (why: string) =>
    new ConfigError('E_OUTSIDE_ROOT', `\`${requested}\` is not a path inside the served folder: ${why}`, { hint: 'request files by their path relative to the runs or dataset folder' });
  if (requested.includes('\0')) throw refuse('it contains a NUL byte');
  if (isAbsolute(requested) || /^[a-zA-Z]:/.test(requested) || requested.startsWith('\\')) throw refuse('it is absolute');
  if (requested.split(/[\\/]/).includes('..')) throw refuse('it contains `..`');
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(resolve(realRoot, requested));
  } catch (err) {
    throw new ConfigError('E_NOT_FOUND', `\`${requested}\` does not exist in the served folder`, { cause: err });
  }
  const rel = relative(realRoot, real);
  if (rel === '') return real;
  if (rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) throw refuse('it resolves (through a symlink) to a place outside the folder');
  return real;
}
