/**
 * The review page's "retrain head": a linear head (train/linear-head.ts) trained in seconds on
 * the run's cached features with the labels as they are now, and the same head trained on the
 * labels as they were when the run trained — both scored on the run's val images — beside the
 * run's own best val accuracy. The before/after pair differs only by the changes made since.
 */
import { fitLinearHead, linearHeadAccuracy } from '../train/linear-head.js';
import { featureMatrix, runFeatures } from './run-features.js';
import type { DatasetChange } from './dataset-changes.js';

interface HeadScore {
  valAcc: number;
  trainImages: number;
  valImages: number;
}

export interface RetrainHeadResult {
  run: string;
  /** The run's own best val accuracy (its recipe, its head). */
  runValAcc: number | null;
  /** The quick head on the labels as they were when the run trained. */
  before: HeadScore;
  /** The quick head on the labels as they are now. */
  after: HeadScore;
  changesSince: number;
  /** Images without cached features (added since): not used. */
  uncached: number;
  seconds: number;
}

function score(x: Float32Array, dim: number, K: number, rows: readonly { split: string; label: number; row: number }[]): HeadScore {
  const train = rows.filter((r) => r.split === 'train');
  const val = rows.filter((r) => r.split === 'val');
  const head = fitLinearHead(
    featureMatrix({ x, dim }, train),
    train.map((r) => r.label),
    dim,
    K,
    { seed: 0 },
  );
  const acc = linearHeadAccuracy(
    head,
    featureMatrix({ x, dim }, val),
    val.map((r) => r.label),
  );
  return { valAcc: acc, trainImages: train.length, valImages: val.length };
}

export async function retrainHead(runDir: string, runName: string, root: string, log: readonly DatasetChange[], runValAcc: number | null): Promise<RetrainHeadResult> {
  const started = performance.now();
  const f = await runFeatures(runDir, root, log);
  const K = f.classes.length;
  const before = score(f.x, f.dim, K, f.cached);
  const after = score(f.x, f.dim, K, f.rows);
  return { run: runName, runValAcc, before, after, changesSince: f.changesSince, uncached: f.uncached.length, seconds: (performance.now() - started) / 1000 };
}
