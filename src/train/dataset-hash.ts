/**
 * A hash of a dataset for config.json: sha256 over each file's path (relative to the root),
 * split, label and contents, in order. Two copies of the same data hash the same.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import type { Sample } from '../data/sample.js';

export async function datasetHash(root: string, splits: Record<string, readonly Sample[]>): Promise<string> {
  const h = createHash('sha256');
  for (const [name, samples] of Object.entries(splits)) {
    for (const s of samples) {
      const bytes = await readFile(s.path).catch(() => undefined);
      h.update(`${name}\t${relative(root, s.path)}\t${s.label}\t${bytes ? createHash('sha256').update(bytes).digest('hex') : 'unreadable'}\n`);
    }
  }
  return h.digest('hex');
}
