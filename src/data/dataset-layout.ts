/**
 * Reads a dataset folder's structure (no decoding): which splits and classes exist, the
 * image files of each, and what was left out. Problems are collected, not thrown, so the
 * doctor can report all of them; scanImageFolder turns the errors into one DataError.
 *
 * Layouts (torchvision's ImageFolder conventions):
 * - `root/train/<class>/*`, optionally `root/val/<class>/*` (also `valid/`, `validation/`)
 *   and `root/test/` (class folders = labelled; loose files = unlabelled);
 * - `root/<class>/*` only: the loader splits it into train and val.
 * Files are found recursively inside class folders; hidden files/folders (leading '.') and
 * files without an image extension are skipped and counted.
 */
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { DataError, type ErrorCode } from '../errors.js';
import { compareCodePoints } from './compare-code-points.js';
import { formatFromName } from './image-format.js';

export type SplitName = 'train' | 'val' | 'test';

export interface SplitListing {
  /** Folder of the split (the root itself for a class-folders layout). */
  dir: string;
  /** Class name -> image paths (sorted). */
  classes: Map<string, string[]>;
  /** Images directly in the split folder (unlabelled; only meaningful for test/). */
  loose: string[];
}

export interface LayoutProblem {
  severity: 'error' | 'warning';
  kind: 'missing-root' | 'no-classes' | 'empty-class' | 'class-mismatch' | 'unknown-test-class' | 'loose-files' | 'unexpected-folder' | 'missing-train' | 'too-few-classes';
  message: string;
  /** Paths (relative to the root) the problem is about. */
  paths: string[];
}

export interface DatasetLayout {
  root: string;
  /** 'splits': train/ (+ val/, test/) folders; 'class-folders': the root holds the classes. */
  kind: 'splits' | 'class-folders';
  splits: Partial<Record<SplitName, SplitListing>>;
  /** Sorted class names of the training data. */
  classes: string[];
  hidden: string[];
  nonImage: string[];
  /** Documentation at the dataset's root (LICENSE, README.md, ...): expected there, not reported as skipped. */
  docs: string[];
  problems: LayoutProblem[];
}

/** A dataset's own documentation, as datasets ship it next to their folders. */
function isDatasetDoc(name: string): boolean {
  return /^(licen[cs]e|readme|copying|citation|authors|notice|changelog)(\.[a-z]+)?$/i.test(name) || /\.(md|txt|rst|cff|bib)$/i.test(name);
}

const SPLIT_ALIASES: Record<string, SplitName> = { train: 'train', val: 'val', valid: 'val', validation: 'val', test: 'test' };

function isHidden(name: string): boolean {
  return name.startsWith('.');
}

/** Directory entries, following symlinks (like os.walk(followlinks=True)). */
async function entries(dir: string): Promise<{ name: string; path: string; isDir: boolean; isFile: boolean }[]> {
  const list: Dirent[] = await readdir(dir, { withFileTypes: true });
  const out = [];
  for (const e of list) {
    const path = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      try {
        const s = await stat(path);
        isDir = s.isDirectory();
        isFile = s.isFile();
      } catch {
        isDir = isFile = false; // dangling link
      }
    }
    out.push({ name: e.name, path, isDir, isFile });
  }
  return out.sort((a, b) => compareCodePoints(a.name, b.name));
}

function rel(root: string, p: string): string {
  return relative(root, p).split(sep).join('/');
}

export async function readDatasetLayout(root: string): Promise<DatasetLayout> {
  const layout: DatasetLayout = { root, kind: 'class-folders', splits: {}, classes: [], hidden: [], nonImage: [], docs: [], problems: [] };
  let top;
  try {
    const isDir = (await stat(root)).isDirectory();
    top = isDir ? await entries(root) : undefined;
  } catch (err) {
    layout.problems.push({ severity: 'error', kind: 'missing-root', message: `Dataset folder \`${root}\` cannot be read: ${(err as Error).message}`, paths: [] });
    return layout;
  }
  if (!top) {
    layout.problems.push({ severity: 'error', kind: 'missing-root', message: `Dataset folder \`${root}\` cannot be read: not a directory`, paths: [] });
    return layout;
  }

  /** Image files under dir, recursively; records what it skips. */
  const collect = async (dir: string, out: string[]): Promise<void> => {
    for (const e of await entries(dir)) {
      if (isHidden(e.name)) {
        layout.hidden.push(rel(root, e.path));
      } else if (e.isDir) {
        await collect(e.path, out);
      } else if (e.isFile && formatFromName(e.name)) {
        out.push(e.path);
      } else {
        layout.nonImage.push(rel(root, e.path));
      }
    }
  };

  const readSplit = async (dir: string, files: typeof top): Promise<SplitListing> => {
    const listing: SplitListing = { dir, classes: new Map(), loose: [] };
    for (const e of files) {
      if (isHidden(e.name)) layout.hidden.push(rel(root, e.path));
      else if (e.isDir) {
        const images: string[] = [];
        await collect(e.path, images);
        listing.classes.set(e.name, images.sort(compareCodePoints));
      } else if (e.isFile && formatFromName(e.name)) listing.loose.push(e.path);
      else if (dir === root && e.isFile && isDatasetDoc(e.name)) layout.docs.push(rel(root, e.path));
      else layout.nonImage.push(rel(root, e.path));
    }
    return listing;
  };

  const splitDirs = new Map<SplitName, string>();
  for (const e of top) {
    const split = e.isDir ? SPLIT_ALIASES[e.name] : undefined;
    if (split && !splitDirs.has(split)) splitDirs.set(split, e.path);
  }

  if (splitDirs.has('train')) {
    layout.kind = 'splits';
    for (const e of top) {
      if (isHidden(e.name)) layout.hidden.push(rel(root, e.path));
      else if (e.isDir && ![...splitDirs.values()].includes(e.path)) {
        layout.problems.push({
          severity: 'warning',
          kind: 'unexpected-folder',
          message: `Folder \`${e.name}\` next to train/ is not a split (train, val, test) and is ignored`,
          paths: [rel(root, e.path)],
        });
      } else if (e.isFile && isDatasetDoc(e.name)) layout.docs.push(rel(root, e.path));
      else if (!e.isDir) layout.nonImage.push(rel(root, e.path));
    }
    for (const [split, dir] of splitDirs) layout.splits[split] = await readSplit(dir, await entries(dir));
  } else if (splitDirs.has('val') || splitDirs.has('test')) {
    const found = [...splitDirs.keys()].join(', ');
    layout.problems.push({ severity: 'error', kind: 'missing-train', message: `Dataset \`${root}\` has ${found}/ but no train/ folder`, paths: [] });
    return layout;
  } else {
    layout.splits.train = await readSplit(root, top);
  }

  const train = layout.splits.train!;
  layout.classes = [...train.classes.keys()].sort(compareCodePoints);
  if (layout.classes.length === 0) {
    layout.problems.push({ severity: 'error', kind: 'no-classes', message: `No class folders in \`${train.dir}\`: expected one sub-folder of images per class`, paths: [] });
  } else if (layout.classes.length === 1) {
    layout.problems.push({
      severity: 'error',
      kind: 'too-few-classes',
      message: `classification needs at least 2 classes; found 1: \`${layout.classes[0]}\` (in \`${train.dir}\`)`,
      paths: [rel(root, join(train.dir, layout.classes[0]))],
    });
  }
  for (const split of ['train', 'val', 'test'] as const) {
    const listing = layout.splits[split];
    if (!listing) continue;
    for (const [name, files] of listing.classes) {
      if (files.length === 0) {
        // An empty class in val or test costs only that class's measurement; in train, the class cannot be learnt.
        const where = rel(root, join(listing.dir, name));
        layout.problems.push(
          split === 'train'
            ? { severity: 'error', kind: 'empty-class', message: `Class folder \`${where}\` holds no image files`, paths: [where] }
            : { severity: 'warning', kind: 'empty-class', message: `Class folder \`${where}\` holds no image files: the ${split} accuracy of \`${name}\` cannot be measured`, paths: [where] },
        );
      }
    }
    if (split !== 'test' && listing.loose.length > 0) {
      layout.problems.push({
        severity: 'warning',
        kind: 'loose-files',
        message: `${listing.loose.length} image(s) directly in \`${rel(root, listing.dir) || '.'}\` have no class folder and are ignored`,
        paths: listing.loose.map((p) => rel(root, p)),
      });
    }
  }
  const val = layout.splits.val;
  if (val && layout.classes.length > 0) {
    const valClasses = [...val.classes.keys()].sort(compareCodePoints);
    if (valClasses.join('\u0000') !== layout.classes.join('\u0000')) {
      const onlyTrain = layout.classes.filter((c) => !val.classes.has(c));
      const onlyVal = valClasses.filter((c) => !train.classes.has(c));
      // Classes missing from val only: training goes on, their accuracy is not measured.
      if (onlyVal.length === 0) {
        layout.problems.push({
          severity: 'warning',
          kind: 'class-mismatch',
          message: `${rel(root, val.dir)}/ has no images of ${onlyTrain.map((c) => `\`${c}\``).join(', ')}: ${onlyTrain.length === 1 ? 'its' : 'their'} accuracy cannot be measured (the other classes are)`,
          paths: onlyTrain.map((c) => `train/${c}`),
        });
      } else
        layout.problems.push({
          severity: 'error',
          kind: 'class-mismatch',
          message:
            `train/ and val/ have different classes: train [${layout.classes.join(', ')}], val [${valClasses.join(', ')}]` +
            (onlyTrain.length ? `; missing from val: ${onlyTrain.join(', ')}` : '') +
            (onlyVal.length ? `; missing from train: ${onlyVal.join(', ')}` : ''),
          paths: [...onlyTrain.map((c) => `train/${c}`), ...onlyVal.map((c) => `${rel(root, val.dir)}/${c}`)],
        });
    }
  }
  const test = layout.splits.test;
  if (test) {
    const unknown = [...test.classes.keys()].filter((c) => !train.classes.has(c));
    if (unknown.length) {
      layout.problems.push({
        severity: 'error',
        kind: 'unknown-test-class',
        message: `test/ has classes that train/ lacks: [${unknown.join(', ')}]; train has [${layout.classes.join(', ')}]`,
        paths: unknown.map((c) => `test/${c}`),
      });
    }
  }
  layout.hidden.sort(compareCodePoints);
  layout.nonImage.sort(compareCodePoints);
  return layout;
}

/** The error code of a layout problem (the first error-level one names the thrown error). */
const PROBLEM_CODES: Record<LayoutProblem['kind'], ErrorCode> = {
  'missing-root': 'E_NOT_FOUND',
  'no-classes': 'E_NO_DATA',
  'empty-class': 'E_NO_DATA',
  'class-mismatch': 'E_BAD_LAYOUT',
  'unknown-test-class': 'E_BAD_LAYOUT',
  'missing-train': 'E_BAD_LAYOUT',
  'too-few-classes': 'E_TOO_FEW_CLASSES',
  'loose-files': 'E_BAD_LAYOUT',
  'unexpected-folder': 'E_BAD_LAYOUT',
};

/** Throws one DataError listing every error-level problem of a layout; its code is the first problem's. */
export function assertLayoutUsable(layout: DatasetLayout): void {
  const errors = layout.problems.filter((p) => p.severity === 'error');
  if (errors.length === 0) return;
  throw new DataError(PROBLEM_CODES[errors[0].kind], errors.map((e) => e.message).join('; '), {
    hint: 'expected root/train/<class>/*.jpg (and val/, test/) or root/<class>/*.jpg; run `headstart doctor <root>` for a full report',
  });
}
