/**
 * Feature extraction's cache. With the backbone frozen, its output for an image never
 * changes, so each image goes through it once (per augmented view) and the features are
 * kept on disk, keyed by a hash of everything they depend on: the data files (path, size,
 * modification time), the model, the weights, the transform and the views. A later run —
 * more epochs, another lr, the compare command — reuses them.
 *
 * File: `<cacheDir>/<key>.bin` (format: feature-store.ts), written row by row as the features
 * are computed (into a temp file, renamed when complete) and read back in chunks, so memory
 * holds the feature matrices and nothing else. A truncated file or one from another version
 * is recomputed with a note. `<key>.bin.lock` (cache-lock.ts) makes a second run that wants
 * the same entry wait for the first and read its result.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rename, stat, unlink } from 'node:fs/promises';
import { makeOutDir } from './out-dir.js';
import { basename, dirname, join, resolve } from 'node:path';
import type { Pipeline } from '../data/pipeline.js';
import type { Sample } from '../data/sample.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { buildInferenceGraph, IO } from '../graphs/network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { NamedTensors } from '../tensor.js';
import { weightsCacheDir } from '../weights/cache.js';
import { IOError } from '../errors.js';
import { acquireLock } from './cache-lock.js';
import { checkStore, closeStore, FeatureStoreWriter, readStoreRows, type StoreTrailer } from './feature-store.js';
import { batchCount, imageBatches } from './image-batches.js';
import type { PhaseReporter } from './phase-reporter.js';

const CACHE_VERSION = 2;

export interface FeatureSplit {
  /** One [N, dim] row-major matrix per view (val and un-augmented train: one). */
  views: Float32Array[];
  labels: Int32Array;
  paths: string[];
}

export interface FeatureSet {
  key: string;
  dim: number;
  train: FeatureSplit;
  val: FeatureSplit;
  /** The samples left out because they could not be read when the features were computed, and why. */
  skipped: { path: string; reason: string }[];
}

/** `$HEADSTART_HOME/features`, else the XDG cache's headstart/features, else ~/.cache/headstart/features. */
export function featureCacheDir(env: Record<string, string | undefined> = process.env): string {
  return join(dirname(weightsCacheDir(env)), 'features');
}

export interface FeatureKeyInput {
  train: readonly Sample[];
  val: readonly Sample[];
  model: string;
  /** Identifies the weights (file identity, builtin id, or random seed). */
  weightsId: string;
  /** Describes the transforms (e.g. Pipeline.describe()). */
  transform: string;
  inputSize: number;
  /** 0: one un-augmented view of each training image; K: K augmented views. */
  views: number;
  seed: number;
}

/** Files whose size and mtime are asked for at once while keying. */
const STAT_CHUNK = 256;

/** Hash of everything the features depend on. Files are identified by path, size and mtime. */
export async function featureCacheKey(input: FeatureKeyInput): Promise<string> {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      v: CACHE_VERSION,
      model: input.model,
      weights: input.weightsId,
      transform: input.transform,
      inputSize: input.inputSize,
      views: input.views,
      seed: input.views > 0 ? input.seed : null,
    }),
  );
  for (const [name, split] of [
    ['train', input.train],
    ['val', input.val],
  ] as const) {
    h.update(`\n${name}:${split.length}\n`);
    // Files are stat'ed STAT_CHUNK at a time (one at a time, 100,000 files took seconds) and hashed in order.
    for (let start = 0; start < split.length; start += STAT_CHUNK) {
      const chunk = split.slice(start, start + STAT_CHUNK);
      const stats = await Promise.all(chunk.map((s) => stat(s.path).catch(() => undefined)));
      chunk.forEach((s, i) => {
        const st = stats[i];
        h.update(`${resolve(s.path)}\t${s.label}\t${st ? `${st.size}\t${st.mtimeMs}` : 'missing'}\n`);
      });
    }
  }
  return h.digest('hex').slice(0, 32);
}

export interface ExtractArgs {
  spec: ModelSpec;
  /** Every backbone parameter (embedded as constants). */
  params: NamedTensors;
  inputSize: number;
  train: readonly Sample[];
  val: readonly Sample[];
  trainTransform: Pipeline;
  evalTransform: Pipeline;
  views: number;
  seed: number;
  key: string;
  cacheDir: string;
  session: SessionOptions;
  batchSize?: number;
  onSkip: (path: string, reason: string) => void;
  /** Progress of the extraction (batches of all passes together) and interruption. */
  /** Progress of the extraction (one 'extract' phase over all passes) and interruption. */
  phase?: PhaseReporter;
  /** Notes worth a line: a damaged cache being rebuilt, waiting on another run's lock. */
  onNote?: (message: string) => void;
  /** Another graph from `images` (dynamic batch) to `features` to cache instead of the backbone's (cached partial fine-tuning's frozen stages). */
  graph?: Uint8Array;
}

/** The splits of a validated store, rows placed in sample order, left-out samples dropped. */
function assemble(fd: number, t: StoreTrailer): FeatureSet | string {
  const skipped = new Set(t.skipped);
  const dim = t.dim;
  const split = (name: 'train' | 'val'): FeatureSplit | string => {
    const { paths, labels } = t[name];
    const rank = new Int32Array(paths.length).fill(-1);
    const keep: number[] = [];
    paths.forEach((p, i) => {
      if (!skipped.has(p)) rank[i] = keep.push(i) - 1;
    });
    const views: Float32Array[] = [];
    for (let p = 0; p < t.passes.length; p++) {
      const pass = t.passes[p];
      if (pass.split !== name) continue;
      const m = new Float32Array(keep.length * dim);
      const seen = new Uint8Array(keep.length);
      let placed = 0;
      readStoreRows(
        fd,
        t,
        p,
        (r) => {
          const i = pass.indices[r];
          const k = i >= 0 && i < paths.length ? rank[i] : -1;
          if (k >= 0 && !seen[k]) {
            seen[k] = 1;
            placed++;
            return k;
          }
          return -1;
        },
        m,
      );
      if (placed !== keep.length) return `its ${name} view ${views.length} has ${placed} of ${keep.length} rows`;
      views.push(m);
    }
    if (views.length === 0) return `it has no ${name} view`;
    return { views, labels: Int32Array.from(keep, (i) => labels[i]), paths: keep.map((i) => paths[i]) };
  };
  const v = split('val');
  if (typeof v === 'string') return v;
  const tr = split('train');
  if (typeof tr === 'string') return tr;
  const skippedWithReasons = t.skipped.map((path, i) => ({ path, reason: t.skipReasons?.[i] ?? 'it could not be read when the features were cached' }));
  return { key: t.key, dim, train: tr, val: v, skipped: skippedWithReasons };
}

/**
 * The features stored at `path` (for `key`, when given), or why they cannot be used
 * (missing, truncated, another version, another key, inconsistent).
 */
export function readFeatureCache(path: string, key?: string): { set: FeatureSet } | { problem: string } {
  if (!existsSync(path)) return { problem: 'missing' };
  const c = checkStore(path, key);
  if (!c.ok) return { problem: c.problem };
  try {
    const set = assemble(c.fd, c.trailer);
    return typeof set === 'string' ? { problem: set } : { set };
  } catch (err) {
    return { problem: `it cannot be read (${(err as Error).message})` };
  } finally {
    closeStore(c.fd);
  }
}

/** The cached features for `key`, or extracts them (and caches them). */
export async function loadOrExtractFeatures(a: ExtractArgs): Promise<{ set: FeatureSet; hit: boolean; seconds: number; path: string }> {
  const started = performance.now();
  const path = join(a.cacheDir, `${a.key}.bin`);
  const note = (m: string) => a.onNote?.(`features: ${m}`);
  // A cache hit reports the files the extraction skipped, as the extraction itself did.
  const hit = (set: FeatureSet) => {
    for (const s of set.skipped) a.onSkip(s.path, s.reason);
    return { set, hit: true, seconds: (performance.now() - started) / 1000, path };
  };
  const first = readFeatureCache(path, a.key);
  if ('set' in first) return hit(first.set);
  await makeOutDir(a.cacheDir, '--cache-dir');
  const lock = await acquireLock(`${path}.lock`, { onNote: note, checkStop: () => a.phase?.checkStop() });
  try {
    // Another run may have computed it while this one waited.
    const again = readFeatureCache(path, a.key);
    if ('set' in again) return hit(again.set);
    if (again.problem !== 'missing') note(`the cache file \`${path}\` cannot be used: ${again.problem}; computing it again`);
    await removeLeftovers(path, note);
    return await extract(a, path, started, () => lock.touch());
  } finally {
    await lock.release();
  }
}

/**
 * Partial files of this entry left by runs that stopped without cleaning up (killed, out of
 * memory, power cut): whoever holds the lock is the only writer, so every other
 * `<key>.bin.tmp-<pid>` is dead weight (as large as the features) and is removed, with a note.
 */
async function removeLeftovers(path: string, note: (m: string) => void): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  const mine = `${prefix}${process.pid}`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix) || name === mine) continue;
    const leftover = join(dirname(path), name);
    const size = (await stat(leftover).catch(() => undefined))?.size ?? 0;
    await unlink(leftover).catch(() => undefined);
    note(`removed \`${leftover}\` (${(size / 2 ** 20).toFixed(1)} MB), a partial cache file left by a run that did not finish`);
  }
}

async function extract(a: ExtractArgs, path: string, started: number, touch: () => void): Promise<{ set: FeatureSet; hit: boolean; seconds: number; path: string }> {
  const bytes = a.graph ?? buildInferenceGraph(a.spec, { batch: -1, numClasses: 1, inputSize: a.inputSize, featuresOnly: true, constants: a.params }).bytes;
  const session = await Session.create(bytes, { label: 'feature extraction', ...a.session });
  const batchSize = a.batchSize ?? 32;
  const passes: { split: 'train' | 'val'; samples: readonly Sample[]; transform: Pipeline; epoch: number }[] = [{ split: 'val', samples: a.val, transform: a.evalTransform, epoch: 0 }];
  const trainViews = Math.max(1, a.views);
  for (let v = 0; v < trainViews; v++) passes.push({ split: 'train', samples: a.train, transform: a.views > 0 ? a.trainTransform : a.evalTransform, epoch: a.views > 0 ? 1_000_000 + v : 0 });
  const total = passes.reduce((n, p) => n + p.samples.length, 0);
  const batches = passes.reduce((n, p) => n + batchCount(p.samples.length, batchSize), 0);
  let done = 0;
  let images = 0;
  let dim = a.spec.featureDim;
  await a.phase?.start(batches, total);
  // A sample skipped in any view is left out of every view, so the views stay aligned.
  const skipped = new Map<string, string>();
  const onSkip = (p: string, reason: string) => {
    if (skipped.has(p)) return;
    a.onSkip(p, reason);
    skipped.set(p, reason);
  };
  const tmp = `${path}.tmp-${process.pid}`;
  const writer = await FeatureStoreWriter.create(tmp);
  let finished = false;
  try {
    for (const pass of passes) {
      writer.beginPass(pass.split);
      for await (const batch of imageBatches(pass.samples, pass.transform, { batchSize, shuffle: false, seed: a.seed, epoch: pass.epoch, onSkip })) {
        a.phase?.checkStop();
        const n = batch.labels.length;
        const out = await session.run({ [IO.images]: { dtype: 'float32', shape: [n, 3, a.inputSize, a.inputSize], data: batch.images } }, [IO.features]);
        const indices = batch.indices.slice(0, n);
        batch.release();
        const f = out[IO.features].data as Float32Array;
        dim = f.length / n;
        await writer.append(f, dim, indices);
        touch();
        done++;
        images += n;
        await a.phase?.batch(done, images);
      }
    }
    const list = (samples: readonly Sample[]) => ({ paths: samples.map((s) => s.path), labels: samples.map((s) => s.label) });
    await writer.finish(a.key, { train: list(a.train), val: list(a.val) }, skipped, dim);
    finished = true;
    await rename(tmp, path);
  } finally {
    await session.release();
    if (!finished) {
      await writer.abandon();
      await unlink(tmp).catch(() => undefined);
    }
  }
  const back = readFeatureCache(path, a.key);
  if (!('set' in back)) {
    throw new IOError('E_READ_FAILED', `The feature cache \`${path}\` just written cannot be read back: ${back.problem}`, {
      hint: 'check the disk (full? another process writing the same file?) and run again',
    });
  }
  const seconds = (performance.now() - started) / 1000;
  await a.phase?.end(null, null, images);
  return { set: back.set, hit: false, seconds, path };
}
