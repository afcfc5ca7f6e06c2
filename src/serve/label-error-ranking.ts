/**
 * The review page's likely label errors: out-of-fold probabilities (a linear head per fold on
 * the run's cached features, train/out-of-fold.ts) for every cached image of the dataset as it
 * is now, ranked the confident-learning way (metrics/label-issues.ts). No image's score comes
 * from a model that was trained on its label, unlike the run's own predictions.
 */
import { rankLabelIssues } from '../metrics/label-issues.js';
import { outOfFoldProbabilities } from '../train/out-of-fold.js';
import { featureMatrix, runFeatures } from './run-features.js';
import type { DatasetChange } from './dataset-changes.js';

export interface LabelErrorItem {
  path: string;
  split: 'train' | 'val';
  label: string;
  /** Out-of-fold p(label). */
  selfConfidence: number;
  /** The most probable other class, and its out-of-fold probability. */
  suggested: string;
  pSuggested: number;
  margin: number;
  /** Confident learning flags it: another class reaches its threshold. */
  flagged: boolean;
}

export interface LabelErrorRanking {
  source: 'out-of-fold';
  folds: number;
  /** How the ranking was made, in one sentence for the page. */
  description: string;
  /** Ranked: flagged first, each group by margin. */
  items: LabelErrorItem[];
  /** Images the run's cache has no features for (not ranked). */
  uncached: string[];
  seconds: number;
}

const FOLDS = 5;

export async function rankLabelErrors(runDir: string, runName: string, root: string, log: readonly DatasetChange[]): Promise<LabelErrorRanking> {
  const started = performance.now();
  const f = await runFeatures(runDir, root, log);
  const K = f.classes.length;
  const labels = f.rows.map((r) => r.label);
  const probs = outOfFoldProbabilities(featureMatrix(f, f.rows), labels, f.dim, K, { folds: FOLDS, seed: 0 });
  const items = rankLabelIssues(probs, labels, K).map((r) => ({
    path: f.rows[r.index].path,
    split: f.rows[r.index].split,
    label: f.classes[r.label],
    selfConfidence: r.selfConfidence,
    suggested: f.classes[r.suggested],
    pSuggested: probs[r.index * K + r.suggested],
    margin: r.margin,
    flagged: r.flagged,
  }));
  return {
    source: 'out-of-fold',
    folds: FOLDS,
    description: `out-of-fold predictions: ${FOLDS} linear heads on ${runName}'s cached features, each scoring the ${f.rows.length} images it was not trained on; flagged where another class reaches its confident-learning threshold`,
    items,
    uncached: f.uncached,
    seconds: (performance.now() - started) / 1000,
  };
}
