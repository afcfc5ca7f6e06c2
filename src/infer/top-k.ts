/** One ranked class of a prediction. */
export interface RankedClass {
  index: number;
  label: string;
  probability: number;
}

/**
 * The k most probable classes of one row, most probable first; ties keep the lower class
 * index first (as argmax does).
 */
export function topK(probabilities: ArrayLike<number>, classes: readonly string[], k: number): RankedClass[] {
  const order = Array.from({ length: probabilities.length }, (_, i) => i);
  order.sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  return order.slice(0, Math.min(k, order.length)).map((index) => ({ index, label: classes[index], probability: probabilities[index] }));
}
