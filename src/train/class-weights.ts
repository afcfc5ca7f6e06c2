/**
 * `--class-weights auto`: weights inversely proportional to class frequency, n / (k * n_c)
 * (sklearn's 'balanced'), so every class contributes equally to the loss. A class with no
 * training image gets weight 0 (it cannot appear as a target anyway).
 */
export function balancedClassWeights(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts.map((c) => (c > 0 ? labels.length / (numClasses * c) : 0));
}
