/**
 * `predict` when none of its input files could be decoded: an error (exit 1), after the
 * one line per refused file that the command has printed, instead of an empty table.
 */
import { DataError } from '../../errors.js';
import type { SkippedImage } from '../../infer/classifier.js';

export function assertSomethingClassified(classified: number, skipped: readonly SkippedImage[]): void {
  if (classified > 0 || skipped.length === 0) return;
  throw new DataError('E_NO_DATA', `None of the ${skipped.length} input image(s) could be decoded (each is listed above): nothing was classified`, {
    hint: 'check the files with `headstart doctor`, or pass other images',
  });
}
