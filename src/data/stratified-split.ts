/**
 * Splits each class's files into train and val by a seeded draw, so every class keeps the
 * same fraction in val (rounded) and at least one image in train. Pure: the order of the
 * files in, the fraction and the seed fix the result.
 */
import { ConfigError } from '../errors.js';
import { keyedRandom, permutation } from '../random.js';
import type { Sample } from './sample.js';

export function stratifiedSplit(filesPerClass: readonly (readonly string[])[], valFraction: number, seed: number): { train: Sample[]; val: Sample[] } {
  if (!(valFraction >= 0 && valFraction < 1)) throw new ConfigError('E_BAD_OPTION', `stratifiedSplit: valFraction must be in [0, 1), got ${valFraction}`);
  const train: Sample[] = [];
  const val: Sample[] = [];
  filesPerClass.forEach((files, label) => {
    const n = files.length;
    let nVal = Math.round(valFraction * n);
    if (valFraction > 0 && n >= 2) nVal = Math.max(1, nVal);
    nVal = Math.min(nVal, n - 1);
    if (nVal <= 0) {
      for (const path of files) train.push({ path, label });
      return;
    }
    const order = permutation(keyedRandom(seed, label), n);
    const isVal = new Uint8Array(n);
    for (let i = 0; i < nVal; i++) isVal[order[i]] = 1;
    files.forEach((path, i) => (isVal[i] ? val : train).push({ path, label }));
  });
  return { train, val };
}
