/**
 * `evaluate`: a trained model.onnx on a labelled folder (one sub-folder per class, or a
 * dataset root whose val/ — or another split — is used, or the root of class folders the
 * model was trained on, whose automatic split is reproduced from the model's record):
 * accuracy with its Wilson interval, per-class precision/recall/F1 and the confusion matrix.
 * The folder's classes must be among the model's (a class without images is a warning);
 * labels are matched by name, so folder order does not matter.
 */
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { ConfigError, DataError } from '../errors.js';
import { compareCodePoints } from '../data/compare-code-points.js';
import { readDatasetLayout, type SplitListing } from '../data/dataset-layout.js';
import { listingFingerprint } from '../data/listing-fingerprint.js';
import type { SplitRecord } from '../data/split-record.js';
import { stratifiedSplit } from '../data/stratified-split.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { argmaxRow, classificationMetrics, type ClassificationMetrics } from '../metrics/classification.js';
import { Classifier, parseOptions, type SkippedImage } from './classifier.js';
import type { ClassifierMetadata } from './model-file.js';
import { listImageInputs } from './input-files.js';
import { evaluateRejection, type RejectionEvaluation } from './rejection-evaluation.js';

export const EvaluateOptionsSchema = z.strictObject({
  /**
   * Which split to evaluate; default val. For a dataset root with train/ and val/ folders, that folder; for the
   * root of class folders the model was trained on (split automatically), that run's split, reproduced from the
   * seed and fraction the model records. Refused (never ignored) for any other class-folder dir.
   */
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
  /** The split evaluated (train, val or test), or null for every image of a plain class-folder dir. */
  split: 'train' | 'val' | 'test' | null;
  /** True when the split was reproduced from the model's record of its training run's automatic split. */
  reproducedSplit: boolean;
  /** What was evaluated, in words (e.g. which images a reproduced split holds). */
  notes: string[];
  /** What could not be measured (a class with no images in the folder), one line each. */
  warnings: string[];
  /** With `unknownDir`: AUROC, FPR at 95% TPR, and what the model's threshold accepts. */
  rejection?: RejectionEvaluation;
}

const list = (names: readonly string[]) => `[${names.join(', ')}]`;

interface LabelledImages {
  listing: SplitListing;
  split: EvaluateResult['split'];
  reproducedSplit: boolean;
  notes: string[];
}

const pctOf = (x: number) => `${Math.round(x * 1000) / 10}%`;

/**
 * The labelled images to evaluate: a split folder of a dataset root; the training run's own
 * automatic split of the root it was trained on (recognised by the listing's fingerprint); or
 * every image of a plain class-folder dir. A --split that cannot be honoured is refused.
 */
async function labelledImages(dir: string, split: 'train' | 'val' | 'test' | undefined, record: SplitRecord | undefined): Promise<LabelledImages> {
  const layout = await readDatasetLayout(dir);
  const fatal = layout.problems.find((p) => p.kind === 'missing-root' || p.kind === 'missing-train');
  if (fatal) throw new DataError(fatal.kind === 'missing-root' ? 'E_NOT_FOUND' : 'E_BAD_LAYOUT', fatal.message, { hint: 'pass a folder with one sub-folder of images per class' });
  const noClasses = (where: string) =>
    new DataError('E_NO_DATA', `No class folders in \`${where}\`: expected one sub-folder of images per class`, { hint: 'evaluate needs labelled images: <dir>/<class>/*.jpg' });
  const name = split ?? 'val';
  const train = layout.splits.train;

  // No val/ folder (a root of class folders, or train/ alone): training split it off; reproduce that split if this is its data.
  if (!layout.splits.val && train && train.classes.size > 0 && record?.source === 'split' && !(name === 'test' && layout.splits.test)) {
    const files = layout.classes.map((c) => train.classes.get(c) ?? []);
    if (listingFingerprint(dir, layout.classes, files) === record.listing) {
      if (name === 'test') {
        throw new ConfigError('E_BAD_OPTION', `\`${dir}\` has no test images: the model's training run split its images into train and val only`, {
          hint: 'use --split val (the default) or --split train, or evaluate a separate folder of test images',
        });
      }
      const chosen = stratifiedSplit(files, record.valFraction, record.seed)[name];
      const classes = new Map<string, string[]>(layout.classes.map((c) => [c, []]));
      for (const x of chosen) classes.get(layout.classes[x.label])!.push(x.path);
      const note = `\`${dir}\` is the dataset the model was trained on (val split off automatically): evaluating that run's ${name} images, ${chosen.length} of ${files.flat().length} (seed ${record.seed}, val fraction ${pctOf(record.valFraction)})`;
      return { listing: { dir: train.dir, classes, loose: [] }, split: name, reproducedSplit: true, notes: [note] };
    }
  }

  if (layout.kind === 'splits') {
    const listing = layout.splits[name];
    if (!listing) {
      const have = Object.keys(layout.splits).join(', ');
      throw new ConfigError('E_BAD_OPTION', `Dataset \`${dir}\` has no ${name}/ folder (it has ${have})`, { hint: `choose another split (${have}) or pass the class-folder directory itself` });
    }
    if (listing.classes.size === 0) throw noClasses(listing.dir);
    return { listing, split: name, reproducedSplit: false, notes: [] };
  }
  if (!train || train.classes.size === 0) throw noClasses(train?.dir ?? dir);
  if (split !== undefined) {
    const why =
      record === undefined
        ? 'the model does not record how its training data was split'
        : record.source === 'folders'
          ? 'the model was trained on train/ and val/ folders, not on an automatic split of this folder'
          : "its images differ from those the model's training run split (files were added, removed or renamed, or it is another folder)";
    throw new ConfigError('E_BAD_OPTION', `--split ${split} cannot be applied to \`${dir}\`: it holds class folders only, and ${why}`, {
      hint: 'leave out --split to evaluate every image in it, or pass a dataset root with train/ and val/ folders',
    });
  }
  const notes = record?.source === 'split' ? [`\`${dir}\` is not the folder the model's training run split automatically (its listing differs): evaluating all of its images`] : [];
  return { listing: train, split: null, reproducedSplit: false, notes };
}

export async function evaluate(modelPath: string, dir: string, options?: EvaluateOptions): Promise<EvaluateResult> {
  const opts = parseOptions(EvaluateOptionsSchema, options, 'evaluate');
  const start = performance.now();
  const classifier = await Classifier.load(modelPath, { threads: opts.threads, device: opts.device, classes: opts.classes, preprocess: opts.preprocess });
  try {
    const chosen = await labelledImages(dir, opts.split, classifier.metadata.split);
    const listing = chosen.listing;
    const classes = classifier.classes;
    const folderClasses = [...listing.classes.keys()].sort(compareCodePoints);
    const extra = folderClasses.filter((c) => !classes.includes(c));
    if (extra.length > 0) {
      throw new ConfigError('E_BAD_LAYOUT', `The class folders of \`${listing.dir}\` ${list(folderClasses)} do not match the model's classes ${list(classes)}; not in the model: ${extra.join(', ')}`, {
        hint: 'evaluate on a folder laid out like the training data (one sub-folder per class the model knows)',
      });
    }
    // A class of the model with no images here: the others are still measured.
    const unmeasured = classes.filter((c) => (listing.classes.get(c)?.length ?? 0) === 0);
    const warnings =
      unmeasured.length > 0
        ? [
            `\`${listing.dir}\` has no images of ${unmeasured.map((c) => `\`${c}\``).join(', ')}: ${unmeasured.length === 1 ? 'its' : 'their'} recall cannot be measured (the accuracy covers the other classes)`,
          ]
        : [];
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
      split: chosen.split,
      reproducedSplit: chosen.reproducedSplit,
      notes: chosen.notes,
      warnings,
      ...(rejection ? { rejection } : {}),
    };
  } finally {
    await classifier.release();
  }
}
