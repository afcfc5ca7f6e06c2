/**
 * The image files a `predict` call names: files as given, folders walked recursively for
 * files with an image extension (hidden entries skipped), in code-point order.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, IOError } from '../errors.js';
import { compareCodePoints } from '../data/compare-code-points.js';
import { formatFromName } from '../data/image-format.js';

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => compareCodePoints(a.name, b.name));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const path = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(path).catch(() => undefined);
      isDir = s?.isDirectory() ?? false;
      isFile = s?.isFile() ?? false;
    }
    if (isDir) await walk(path, out);
    else if (isFile && formatFromName(e.name)) out.push(path);
  }
}

/** Expands files and folders into a list of image paths (a file is kept whatever its extension). */
export async function listImageInputs(inputs: readonly string[]): Promise<string[]> {
  if (inputs.length === 0) throw new ConfigError('E_NO_DATA', 'No input images given', { hint: 'pass image files and/or folders of images' });
  const out: string[] = [];
  for (const input of inputs) {
    let s;
    try {
      s = await stat(input);
    } catch (err) {
      throw new IOError('E_NOT_FOUND', `Input \`${input}\` does not exist`, { hint: 'pass image files and/or folders of images', cause: err });
    }
    if (s.isDirectory()) {
      const found: string[] = [];
      await walk(input, found);
      out.push(...found);
    } else out.push(input);
  }
  // The same file named twice (a file and its folder) is classified once.
  return [...new Set(out)];
}
