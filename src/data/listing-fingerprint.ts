/**
 * A fingerprint of a class-folder listing: sha256 over each image's class and path relative
 * to the root, in sorted order. The same folder listed again (anywhere on disk) gives the
 * same fingerprint, and then a seeded split of it gives the same train and val images.
 */
import { createHash } from 'node:crypto';
import { relative, sep } from 'node:path';
import { compareCodePoints } from './compare-code-points.js';

export function listingFingerprint(root: string, classes: readonly string[], filesPerClass: readonly (readonly string[])[]): string {
  const lines = filesPerClass.flatMap((files, label) => files.map((f) => `${classes[label]}\t${relative(root, f).split(sep).join('/')}`));
  lines.sort(compareCodePoints);
  const h = createHash('sha256');
  for (const l of lines) h.update(`${l}\n`);
  return h.digest('hex');
}
