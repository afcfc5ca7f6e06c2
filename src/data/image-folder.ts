/**
 * scanImageFolder: the samples of a folder dataset (torchvision ImageFolder layout), with
 * class indices = positions in the sorted class list. A root holding only class folders (or
 * a train/ without val/) is split into train and val by a seeded, stratified fraction.
 * Nothing is decoded here; files that fail to decode are the loader's and the doctor's job.
 */
import { z } from 'zod';
import { parseOrThrow } from '../zod-issues.js';
import { assertLayoutUsable, readDatasetLayout, type DatasetLayout } from './dataset-layout.js';
import { listingFingerprint } from './listing-fingerprint.js';
import type { Sample } from './sample.js';
import type { SplitRecord } from './split-record.js';
import { stratifiedSplit } from './stratified-split.js';

export const ScanOptionsSchema = z.strictObject({
  /** Fraction of each class held out for val when the dataset has no val/ folder. */
  valFraction: z.number().min(0).lt(1).default(0.2),
  /** Seed of that split. */
  seed: z.number().int().nonnegative().default(0),
});

export type ScanOptions = z.input<typeof ScanOptionsSchema>;

export interface ImageFolder {
  root: string;
  classes: string[];
  train: Sample[];
  val: Sample[];
  /** Present when the dataset has a test/ folder; unlabelled files have label -1. */
  test?: Sample[];
  /** How val was obtained: its own folder, or split off train. */
  valSource: 'folder' | 'split';
  /** Non-fatal notes (skipped files, ignored folders), one line each. */
  warnings: string[];
  /** How val was obtained, as a trained model records it (evaluate reproduces a split from it). */
  split: SplitRecord;
}

function summarizeSkipped(layout: DatasetLayout): string | null {
  const parts: string[] = [];
  if (layout.hidden.length) parts.push(`${layout.hidden.length} hidden`);
  if (layout.nonImage.length) parts.push(`${layout.nonImage.length} non-image`);
  if (!parts.length) return null;
  const examples = [...layout.nonImage, ...layout.hidden]
    .slice(0, 3)
    .map((p) => `\`${p}\``)
    .join(', ');
  return `Skipped ${parts.join(' and ')} file(s), e.g. ${examples}`;
}

export async function scanImageFolder(root: string, options?: ScanOptions): Promise<ImageFolder> {
  const { valFraction, seed } = parseOrThrow(ScanOptionsSchema, options ?? {}, 'scanImageFolder: invalid options', 'options are { valFraction: number in [0, 1), seed: integer >= 0 }');
  const layout = await readDatasetLayout(root);
  assertLayoutUsable(layout);

  const classes = layout.classes;
  const index = new Map(classes.map((c, i) => [c, i]));
  const trainListing = layout.splits.train!;
  const perClass = (listing: NonNullable<DatasetLayout['splits']['train']>) => classes.map((c) => listing.classes.get(c) ?? []);
  const toSamples = (files: string[][]): Sample[] => files.flatMap((paths, label) => paths.map((path) => ({ path, label })));

  let train: Sample[];
  let val: Sample[];
  let valSource: ImageFolder['valSource'];
  let split: SplitRecord;
  if (layout.splits.val) {
    train = toSamples(perClass(trainListing));
    val = toSamples(perClass(layout.splits.val));
    valSource = 'folder';
    split = { source: 'folders' };
  } else {
    const files = perClass(trainListing);
    ({ train, val } = stratifiedSplit(files, valFraction, seed));
    valSource = 'split';
    split = { source: 'split', valFraction, seed, listing: listingFingerprint(root, classes, files), trainImages: train.length, valImages: val.length };
  }

  let test: Sample[] | undefined;
  const testListing = layout.splits.test;
  if (testListing) {
    test = [];
    for (const [name, files] of [...testListing.classes].sort(([a], [b]) => index.get(a)! - index.get(b)!)) {
      for (const path of files) test.push({ path, label: index.get(name)! });
    }
    for (const path of testListing.loose) test.push({ path, label: -1 });
  }

  const warnings = layout.problems.filter((p) => p.severity === 'warning').map((p) => p.message);
  if (valSource === 'split' && valFraction > 0) {
    const inVal = new Set(val.map((s) => s.label));
    const unmeasured = classes.filter((_, i) => !inVal.has(i));
    if (unmeasured.length > 0) {
      warnings.push(
        `the automatic val split has no images of ${unmeasured.map((c) => `\`${c}\``).join(', ')} (a class needs 2 images to give one to val): ${unmeasured.length === 1 ? 'its' : 'their'} accuracy cannot be measured`,
      );
    }
  }
  const skipped = summarizeSkipped(layout);
  if (skipped) warnings.push(skipped);
  return { root, classes, train, val, ...(test ? { test } : {}), valSource, warnings, split };
}
