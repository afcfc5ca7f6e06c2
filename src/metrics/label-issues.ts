/**
 * Likely label errors from (out-of-fold) predicted probabilities, the confident-learning way
 * (Northcutt et al., 2021): each class j gets a threshold t_j, the mean probability of j over
 * the rows labelled j (its average self-confidence). A row labelled y is an issue when some
 * other class j reaches its threshold (p_j >= t_j) and the most probable such class is not y
 * (an off-diagonal entry of the confident joint). Rows are ranked by the normalised margin
 * p_y - max_{j != y} p_j, lowest first: flagged rows, then the rest.
 */

export interface LabelIssue {
  /** Row index. */
  index: number;
  label: number;
  /** p(label). */
  selfConfidence: number;
  /** The class the row most likely belongs to instead (the most probable other class). */
  suggested: number;
  /** p(label) - max over other classes: negative when another class is more probable. */
  margin: number;
  /** An off-diagonal entry of the confident joint. */
  flagged: boolean;
}

/** Mean self-confidence of each class (NaN for a class with no rows). */
export function classThresholds(probs: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): Float64Array {
  const sum = new Float64Array(numClasses);
  const count = new Float64Array(numClasses);
  for (let i = 0; i < labels.length; i++) {
    sum[labels[i]] += probs[i * numClasses + labels[i]];
    count[labels[i]]++;
  }
  return sum.map((s, k) => (count[k] ? s / count[k] : NaN));
}

/** Every row, ranked: flagged rows first, each group by margin (lowest first). */
export function rankLabelIssues(probs: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number): LabelIssue[] {
  const t = classThresholds(probs, labels, numClasses);
  const out: LabelIssue[] = [];
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    const p = (k: number) => probs[i * numClasses + k];
    let other = -1;
    let confident = -1;
    for (let k = 0; k < numClasses; k++) {
      if (k !== y && (other < 0 || p(k) > p(other))) other = k;
      if (p(k) >= t[k] && (confident < 0 || p(k) > p(confident))) confident = k;
    }
    const margin = other < 0 ? 1 : p(y) - p(other);
    out.push({ index: i, label: y, selfConfidence: p(y), suggested: other, margin, flagged: confident >= 0 && confident !== y });
  }
  return out.sort((a, b) => Number(b.flagged) - Number(a.flagged) || a.margin - b.margin || a.index - b.index);
}
