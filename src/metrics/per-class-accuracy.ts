/**
 * Accuracy within each class (the share of its images classified correctly, i.e. its recall)
 * with a Wilson score interval, so a class with few val images shows how little its number
 * says. A class without val images has no estimate (null).
 */
import { wilsonInterval, type ConfusionMatrix, type WilsonInterval } from './classification.js';

export interface ClassAccuracy {
  index: number;
  correct: number;
  total: number;
  /** null when the class has no images. */
  interval: WilsonInterval | null;
}

export function perClassAccuracy(confusion: ConfusionMatrix, confidence = 0.95): ClassAccuracy[] {
  return confusion.map((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    const correct = row[i] ?? 0;
    return { index: i, correct, total, interval: total > 0 ? wilsonInterval(correct, total, { confidence }) : null };
  });
}
