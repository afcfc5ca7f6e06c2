/**
 * The images the model does worst on, by loss (fastai's plot_top_losses): each image's
 * cross-entropy -log p(true class) from its logits, highest first, with the predicted class and
 * its probability. Correctly classified images can appear (a right answer given with little
 * confidence has a high loss).
 */
import { DataError } from '../errors.js';
import { argmaxRow, logSumExpRow } from './classification.js';

export interface TopLoss {
  /** Row of the image in the logits. */
  index: number;
  label: number;
  predicted: number;
  /** Softmax probability of the predicted class. */
  probability: number;
  /** Softmax probability of the true class. */
  trueProbability: number;
  /** -log p(true class). */
  loss: number;
}

export function topLosses(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, count: number): TopLoss[] {
  const n = labels.length;
  if (logits.length !== n * numClasses) throw new DataError('E_BAD_ARGUMENT', `topLosses: ${logits.length} logits for ${n} labels and ${numClasses} classes (expected ${n * numClasses})`);
  const all: TopLoss[] = [];
  for (let i = 0; i < n; i++) {
    const lse = logSumExpRow(logits, i, numClasses);
    const y = labels[i];
    const p = argmaxRow(logits, i, numClasses);
    const loss = lse - logits[i * numClasses + y];
    all.push({ index: i, label: y, predicted: p, probability: Math.exp(logits[i * numClasses + p] - lse), trueProbability: Math.exp(-loss), loss });
  }
  all.sort((a, b) => b.loss - a.loss || a.index - b.index);
  return all.slice(0, Math.max(0, count));
}
