/**
 * The most confused class pairs (fastai's most_confused): off-diagonal cells of the confusion
 * matrix, largest first, with each count's share of the true class's images.
 */
import type { ConfusionMatrix } from './classification.js';

export interface ConfusedPair {
  actual: number;
  predicted: number;
  count: number;
  /** count / images of the actual class. */
  share: number;
}

export function mostConfused(confusion: ConfusionMatrix, options: { minCount?: number; max?: number } = {}): ConfusedPair[] {
  const minCount = options.minCount ?? 1;
  const pairs: ConfusedPair[] = [];
  confusion.forEach((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    row.forEach((count, j) => {
      if (i !== j && count >= minCount) pairs.push({ actual: i, predicted: j, count, share: total > 0 ? count / total : 0 });
    });
  });
  pairs.sort((a, b) => b.count - a.count || b.share - a.share || a.actual - b.actual || a.predicted - b.predicted);
  return pairs.slice(0, options.max ?? pairs.length);
}
