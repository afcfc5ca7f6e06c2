/**
 * A features run's cached backbone features, mapped onto the dataset as it is now: the run's
 * config.json names its feature cache and the dataset root it was trained on; each cached row
 * (one image) is followed through the review page's change log since the run started
 * (relabel, remove, undo), so a relabelled image keeps its features under its new class, a
 * removed one drops out, and an image added since has none. Nothing is recomputed: the rows
 * are read from the cache file.
 */
import { realpath, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ConfigError } from '../errors.js';
import { readDatasetLayout } from '../data/dataset-layout.js';
import { readFeatureCache } from '../train/feature-cache.js';
import type { DatasetChange } from './dataset-changes.js';

export interface RunFeatureRow {
  /** Where the image is now, relative to the dataset root ('/' separated). */
  path: string;
  /** The split the run used it in. */
  split: 'train' | 'val';
  /** Class index (in `classes`) of its folder now. */
  label: number;
  /** Class index it had when the features were cached. */
  cachedLabel: number;
  /** Offset of its feature row in `x` (in rows). */
  row: number;
}

export interface RunFeatures {
  classes: string[];
  dim: number;
  /** One feature row per cached image (val, then train view 0), [rows, dim]. */
  x: Float32Array;
  /** The cached images still in the dataset, at their current place. */
  rows: RunFeatureRow[];
  /** Every cached image as it was when the run trained (split and label then), for the "before" side. */
  cached: { split: 'train' | 'val'; label: number; row: number }[];
  /** Images of the dataset now that the cache has no row for (added since, or moved by hand). */
  uncached: string[];
  /** Changes (relabel, remove, undo) made since the run started. */
  changesSince: number;
  cachePath: string;
}

const posix = (p: string) => p.split(sep).join('/');

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** The features `runDir`'s run cached, placed on the dataset at `root` (a real path) as `log` has changed it. */
export async function runFeatures(runDir: string, root: string, log: readonly DatasetChange[]): Promise<RunFeatures> {
  const config = await readJson(join(runDir, 'config.json'));
  const cache = config?.feature_cache as { path?: unknown } | undefined;
  const data = config?.data as { root?: unknown; classes?: unknown } | undefined;
  if (typeof cache?.path !== 'string' || typeof data?.root !== 'string' || !Array.isArray(data.classes)) {
    throw new ConfigError('E_NOT_FOUND', `the run \`${runDir}\` has no cached features (its config.json names no feature_cache: mode ${typeof config?.mode === 'string' ? config.mode : 'unknown'})`, {
      hint: 'train with --mode features on this dataset: its features are cached and the review page can use them',
    });
  }
  const trainedOn = await realpath(data.root).catch(() => data.root as string);
  if (trainedOn !== root) {
    throw new ConfigError('E_BAD_ARGUMENT', `the run \`${runDir}\` was trained on \`${data.root}\`, not on the served dataset \`${root}\``, { hint: 'pick a run trained on this dataset' });
  }
  const read = readFeatureCache(cache.path);
  if ('problem' in read) {
    throw new ConfigError('E_NOT_FOUND', `the run's feature cache \`${cache.path}\` cannot be used: ${read.problem}`, { hint: 'train the run again (with --mode features) to cache its features' });
  }
  const { set } = read;
  const classes = (data.classes as unknown[]).map(String);
  const dim = set.dim;
  const x = new Float32Array((set.val.labels.length + set.train.labels.length) * dim);
  x.set(set.val.views[0], 0);
  x.set(set.train.views[0].subarray(0, set.train.labels.length * dim), set.val.labels.length * dim);
  const cached: RunFeatures['cached'] = [];
  const place = new Map<string, number>(); // current location -> index in `cached`
  for (const [split, s, offset] of [
    ['val', set.val, 0],
    ['train', set.train, set.val.labels.length],
  ] as const) {
    s.paths.forEach((p, i) => {
      place.set(posix(relative(data.root as string, p)), cached.length);
      cached.push({ split, label: s.labels[i], row: offset + i });
    });
  }
  // Follow the moves made since the run started (its config's created_at).
  const since = typeof config?.created_at === 'string' ? config.created_at : '';
  let changesSince = 0;
  for (const c of log) {
    if (c.time < since || c.from === undefined || c.to === undefined || c.op === 'fine') continue;
    changesSince++;
    const k = place.get(c.from);
    if (k === undefined) continue;
    place.delete(c.from);
    place.set(c.to, k);
  }
  const layout = await readDatasetLayout(root);
  const rows: RunFeatureRow[] = [];
  const uncached: string[] = [];
  for (const listing of Object.values(layout.splits)) {
    for (const files of listing.classes.values()) {
      for (const f of files) {
        const rel = posix(relative(root, f));
        const k = place.get(rel);
        const label = classes.indexOf(rel.split('/').at(-2) ?? '');
        if (k === undefined || label < 0) {
          uncached.push(rel);
          continue;
        }
        rows.push({ path: rel, split: cached[k].split, label, cachedLabel: cached[k].label, row: cached[k].row });
      }
    }
  }
  return { classes, dim, x, rows, cached, uncached, changesSince, cachePath: cache.path };
}

/** The feature rows of `rows` as one [n, dim] matrix. */
export function featureMatrix(f: Pick<RunFeatures, 'x' | 'dim'>, rows: readonly { row: number }[]): Float32Array {
  const m = new Float32Array(rows.length * f.dim);
  rows.forEach((r, i) => m.set(f.x.subarray(r.row * f.dim, (r.row + 1) * f.dim), i * f.dim));
  return m;
}
