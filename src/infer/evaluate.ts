/**
 * `evaluate`: a trained model.onnx on a labelled folder (one sub-folder per class, or a
 * dataset root whose val/ — or another split — is used): accuracy with its Wilson
 * interval, per-class precision/recall/F1 and the confusion matrix. The folder's classes
 * must be the model's; labels are matched by name, so folder order does not matter.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { ConfigError, DataError } from '../errors.js';
import { compareCodePoints } from '../data/compare-code-points.js';
import { readDatasetLayout, type SplitListing } from '../data/dataset-layout.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { argmaxRow, classificationMetrics, type ClassificationMetrics } from '../metrics/classification.js';
import { Classifier, parseOptions, type SkippedImage } from './classifier.js';
import type { ClassifierMetadata } from './model-file.js';
import { listImageInputs } from './input-files.js';
import { evaluateRejection, type RejectionEvaluation } from './rejection-evaluation.js';

export const EvaluateOptionsSchema = z.strictObject({
  /** Which split of a dataset root (train/, val/, test/) to evaluate; default val. Ignored for a plain class-folder dir. */
  split: z.enum(['train', 'val', 'test']).optional(),
  tta: z.boolean().default(false),
  batchSize: z.number().int().positive().default(16),
  threads: z.number().int().positive().optional(),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  /** Confidence level of the accuracy interval. */
  confidence: z.number().gt(0).lt(1).default(0.95),
  /** How many of the most confidently wrong images to list. */
  mistakes: z.number().int().nonnegative().default(10),
  classes: z.array(z.string().min(1)).min(1).optional(),
  preprocess: PreprocessSpecSchema.optional(),
  onProgress: z.custom<(done: number, total: number) => void>((v) => typeof v === 'function', 'expected a function').optional(),
  /** Images of none of the classes: report how well the "unknown" score rejects them (rejection-evaluation.ts). */
  unknownDir: z.string().min(1).optional(),
});
export type EvaluateOptions = z.input<typeof EvaluateOptionsSchema>;

export interface Mistake {
  path: string;
  label: string;
  predicted: string;
  /** Probability the model gave its (wrong) prediction. */
  probability: number;
}

export interface EvaluateResult {
  model: ClassifierMetadata;
  classes: string[];
  /** The folder whose class sub-folders were evaluated. */
  dir: string;
  metrics: ClassificationMetrics;
  mistakes: Mistake[];
  skipped: SkippedImage[];
  tta: boolean;
  seconds: number;
  /** With `unknownDir`: AUROC, FPR at 95% TPR, and what the model's threshold accepts. */
  rejection?: RejectionEvaluation;
}

const list = (names: readonly string[]) => `[${names.join(', ')}]`;

/** The class-folder listing to evaluate: the folder itself, or a split of a dataset root. */
async function labelledListing(dir: string, split: 'train' | 'val' | 'test' | undefined): Promise<SplitListing> {
  const layout = await readDatasetLayout(dir);
  const fatal = layout.problems.find((p) => p.kind === 'missing-root' || p.kind === 'missing-train');
  if (fatal) throw new DataError(fatal.kind === 'missing-root' ? 'E_NOT_FOUND' : 'E_BAD_LAYOUT', fatal.message, { hint: 'pass a folder with one sub-folder of images per class' });
  let listing: SplitListing | undefined;
  if (layout.kind === 'class-folders') listing = layout.splits.train;
  else {
    const name = split ?? 'val';
    listing = layout.splits[name];
    if (!listing) {
      const have = Object.keys(layout.splits).join(', ');
      throw new ConfigError('E_BAD_OPTION', `Dataset \`${dir}\` has no ${name}/ folder (it has ${have})`, { hint: `choose another split (${have}) or pass the class-folder directory itself` });
    }
  }
  if (!listing || listing.classes.size === 0) {
    throw new DataError('E_NO_DATA', `No class folders in \`${listing?.dir ?? dir}\`: expected one sub-folder of images per class`, { hint: 'evaluate needs labelled images: <dir>/<class>/*.jpg' });
  }
  return listing;
}

export async function evaluate(modelPath: string, dir: string, options?: EvaluateOptions): Promise<EvaluateResult> {
  const opts = parseOptions(EvaluateOptionsSchema, options, 'evaluate');
  const start = performance.now();
  const listing = await labelledListing(dir, opts.split);
  const classifier = await Classifier.load(modelPath, { threads: opts.threads, device: opts.device, classes: opts.classes, preprocess: opts.preprocess });
  try {
    const classes = classifier.classes;
    const folderClasses = [...listing.classes.keys()].sort(compareCodePoints);
    const modelSorted = [...classes].sort(compareCodePoints);
    if (folderClasses.join('\u0000') !== modelSorted.join('\u0000')) {
      const extra = folderClasses.filter((c) => !classes.includes(c));
      const absent = classes.filter((c) => !listing.classes.has(c));
      throw new ConfigError(
        'E_BAD_LAYOUT',
        `The class folders of \`${listing.dir}\` ${list(folderClasses)} do not match the model's classes ${list(classes)}` +
          (extra.length ? `; not in the model: ${extra.join(', ')}` : '') +
          (absent.length ? `; no folder for: ${absent.join(', ')}` : ''),
        { hint: 'evaluate on a folder laid out like the training data (one sub-folder per class the model knows)' },
      );
    }
    const labelOf = new Map<string, number>();
    const paths: string[] = [];
    for (const [name, files] of listing.classes) {
      for (const f of files) {
        if (!labelOf.has(f)) paths.push(f);
        labelOf.set(f, classes.indexOf(name));
      }
    }
    if (paths.length === 0) throw new DataError('E_NO_DATA', `The class folders of \`${listing.dir}\` hold no image files`, { hint: 'put the labelled images in <dir>/<class>/' });
    const { images, skipped } = await classifier.classifyFiles(paths, { batchSize: opts.batchSize, tta: opts.tta, onProgress: opts.onProgress });
    if (images.length === 0) {
      throw new DataError('E_NO_DATA', `None of the ${paths.length} images under \`${listing.dir}\` could be read (first: ${skipped[0]?.reason})`, { hint: 'run `headstart doctor` on the folder' });
    }
    const k = classes.length;
    const labels = new Int32Array(images.length);
    const predicted = new Int32Array(images.length);
    const wrong: Mistake[] = [];
    images.forEach((img, i) => {
      labels[i] = labelOf.get(img.path)!;
      const best = argmaxRow(img.probabilities, 0, k);
      predicted[i] = best;
      if (best !== labels[i]) wrong.push({ path: img.path, label: classes[labels[i]], predicted: classes[best], probability: img.probabilities[best] });
    });
    const metrics = classificationMetrics(labels, predicted, k, { classNames: classes, confidence: opts.confidence });
    let rejection: RejectionEvaluation | undefined;
    if (opts.unknownDir) {
      const unknown = await classifier.classifyFiles(await listImageInputs([opts.unknownDir]), { batchSize: opts.batchSize, tta: opts.tta });
      if (unknown.images.length === 0)
        throw new DataError('E_NO_DATA', `--unknown-dir \`${opts.unknownDir}\` holds no readable image`, { hint: 'give a folder of images that belong to none of the classes' });
      skipped.push(...unknown.skipped);
      const r = classifier.metadata.rejection;
      rejection = evaluateRejection(
        images,
        images.map((_, i) => predicted[i] === labels[i]),
        unknown.images,
        { unknownDir: opts.unknownDir, ...(r ? { score: r.score, threshold: r.threshold } : {}) },
      );
    }
    wrong.sort((a, b) => b.probability - a.probability || compareCodePoints(a.path, b.path));
    return {
      model: classifier.metadata,
      classes,
      dir: listing.dir,
      metrics,
      mistakes: wrong.slice(0, opts.mistakes),
      skipped,
      tta: opts.tta,
      seconds: (performance.now() - start) / 1000,
      ...(rejection ? { rejection } : {}),
    };
  } finally {
    await classifier.release();
  }
}
