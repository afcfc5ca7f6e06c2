/**
 * fastai's learning-rate suggestions from a range test's (lr, smoothed loss) curve
 * (fastai 2.7 `valley`, `steep`, `minimum`), computed on the curve without its first tenth
 * and its last 5 points, as fastai's LRFinder does:
 *   - valley: the longest stretch where the loss keeps falling (longest decreasing
 *     subsequence); the point about halfway between its first and second third;
 *   - steep: where the loss falls fastest against log(lr);
 *   - minimum: the lr of the lowest loss, divided by 10.
 */

export const LR_SUGGESTION_NAMES = ['valley', 'steep', 'minimum'] as const;
export type LrSuggestionName = (typeof LR_SUGGESTION_NAMES)[number];

export interface LrSuggestion {
  name: LrSuggestionName;
  lr: number;
  /** The smoothed loss at the suggested lr (the curve's point nearest to it: for minimum/10, a tenth of the minimum's lr). */
  loss: number;
}

/** The part of the curve fastai suggests from: without the first numIt/10 points and the last 5 (when that leaves any). */
function suggestionWindow(lrs: readonly number[], losses: readonly number[], numIt: number): { lrs: number[]; losses: number[] } {
  const start = Math.floor(numIt / 10);
  const end = losses.length - 5;
  if (end - start < 2) return { lrs: [...lrs], losses: [...losses] };
  return { lrs: lrs.slice(start, end), losses: losses.slice(start, end) };
}

function valley(lrs: readonly number[], losses: readonly number[]): LrSuggestion {
  const n = losses.length;
  const lds = new Array<number>(n).fill(1);
  let maxStart = 0;
  let maxEnd = 0;
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i] < losses[j] && lds[i] < lds[j] + 1) lds[i] = lds[j] + 1;
      if (lds[maxEnd] < lds[i]) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd];
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  const idx = Math.min(n - 1, Math.max(0, maxStart + Math.trunc(sections) + Math.trunc(sections / 2)));
  return { name: 'valley', lr: lrs[idx], loss: losses[idx] };
}

function steep(lrs: readonly number[], losses: readonly number[]): LrSuggestion {
  let best = 0;
  let bestSlope = Infinity;
  for (let i = 0; i + 1 < losses.length; i++) {
    const slope = (losses[i + 1] - losses[i]) / (Math.log(lrs[i + 1]) - Math.log(lrs[i]));
    if (slope < bestSlope) {
      bestSlope = slope;
      best = i;
    }
  }
  return { name: 'steep', lr: lrs[best], loss: losses[best] };
}

function minimum(lrs: readonly number[], losses: readonly number[]): LrSuggestion {
  let best = 0;
  for (let i = 1; i < losses.length; i++) if (losses[i] < losses[best]) best = i;
  const lr = lrs[best] / 10;
  let near = 0;
  for (let i = 1; i < lrs.length; i++) if (Math.abs(Math.log(lrs[i] / lr)) < Math.abs(Math.log(lrs[near] / lr))) near = i;
  return { name: 'minimum', lr, loss: losses[near] };
}

/** The three suggestions, in LR_SUGGESTION_NAMES order; `numIt` is the sweep's planned length. */
export function suggestLrs(lrs: readonly number[], smoothed: readonly number[], numIt: number): LrSuggestion[] {
  const w = suggestionWindow(lrs, smoothed, numIt);
  return [valley(w.lrs, w.losses), steep(w.lrs, w.losses), minimum(w.lrs, w.losses)];
}
