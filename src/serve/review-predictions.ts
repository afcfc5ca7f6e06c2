/**
 * The review page's ranking: every labelled image of the dataset classified by a run's
 * model.onnx (the same path as `headstart predict`), with its loss for the given label and
 * the likely label errors — images whose given label gets a low probability while another
 * class gets a high one (confident learning's self-confidence, here from the trained model's
 * predictions rather than out-of-fold ones: the "top losses" view; label-error-ranking.ts makes the out-of-fold one).
 */
import { relative, sep } from 'node:path';
import { readDatasetLayout } from '../data/dataset-layout.js';
import { predict } from '../infer/predict.js';

export interface ReviewItem {
  /** Path relative to the dataset root, '/' separated. */
  path: string;
  split: string;
  label: string;
  predicted: string | null;
  /** Probability the model gives the folder's label (null when the model has no such class). */
  pLabel: number | null;
  pPredicted: number | null;
  /** -log p(label). */
  loss: number | null;
  /** p(label) < 0.2 and another class > 0.6. */
  likelyLabelError: boolean;
}

export interface DatasetImages {
  classes: string[];
  items: ReviewItem[];
}

/** Every image of the dataset's class folders; with `modelPath`, ranked by loss (highest first). */
export async function reviewImages(root: string, modelPath?: string): Promise<DatasetImages> {
  const layout = await readDatasetLayout(root);
  const items: ReviewItem[] = [];
  for (const [split, listing] of Object.entries(layout.splits)) {
    for (const [label, files] of listing.classes) {
      for (const f of files) items.push({ path: relative(root, f).split(sep).join('/'), split, label, predicted: null, pLabel: null, pPredicted: null, loss: null, likelyLabelError: false });
    }
  }
  if (modelPath && items.length > 0) {
    const result = await predict(
      modelPath,
      items.map((i) => `${root}/${i.path}`),
    );
    const byPath = new Map(result.predictions.map((p) => [relative(root, p.path).split(sep).join('/'), p]));
    for (const item of items) {
      const p = byPath.get(item.path);
      if (!p) continue;
      const k = result.classes.indexOf(item.label);
      item.predicted = p.top[0].label;
      item.pPredicted = p.top[0].probability;
      if (k >= 0) {
        item.pLabel = p.probabilities[k];
        item.loss = -Math.log(Math.max(item.pLabel, 1e-12));
        item.likelyLabelError = item.pLabel < 0.2 && p.top[0].label !== item.label && p.top[0].probability > 0.6;
      }
    }
    items.sort((a, b) => (b.loss ?? -1) - (a.loss ?? -1));
  }
  return { classes: layout.classes, items };
}
