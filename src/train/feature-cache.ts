/**
 * Feature extraction's cache. With the backbone frozen, its output for an image never
 * changes, so each image goes through it once (per augmented view) and the features are
 * kept on disk, keyed by a hash of everything they depend on: the data files (path, size,
 * modification time), the model, the weights, the transform and the views. A later run —
 * more epochs, another lr, the compare command — reuses them.
 *
 * File: `<cacheDir>/<key>.bin`, magic `HSFEAT01` + v8.serialize(FeatureSet), written atomically.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import v8 from 'node:v8';
import type { Pipeline } from '../data/pipeline.js';
import type { Sample } from '../data/sample.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { buildInferenceGraph, IO } from '../graphs/network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { NamedTensors } from '../tensor.js';
import { weightsCacheDir } from '../weights/cache.js';
import { writeFileAtomic } from '../atomic-write.js';
import { batchCount, imageBatches } from './image-batches.js';
import type { PhaseReporter } from './phase-reporter.js';

const MAGIC = Buffer.from('HSFEAT01', 'latin1');
const CACHE_VERSION = 1;

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

/** Hash of everything the features depend on. Files are identified by path, size and mtime. */
export async function featureCacheKey(input: FeatureKeyInput): Promise<string> {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: CACHE_VERSION, model: input.model, weights: input.weightsId, transform: input.transform, inputSize: input.inputSize, views: input.views, seed: input.views > 0 ? input.seed : null }));
  for (const [name, split] of [['train', input.train], ['val', input.val]] as const) {
    h.update(`\n${name}:${split.length}\n`);
    for (const s of split) {
      const st = await stat(s.path).catch(() => undefined);
      h.update(`${resolve(s.path)}\t${s.label}\t${st ? `${st.size}\t${st.mtimeMs}` : 'missing'}\n`);
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
  /** Progress of the extraction (one 'extract' phase over all passes) and interruption. */
  phase?: PhaseReporter;
}

export async function readFeatureCache(path: string): Promise<FeatureSet | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    const buf = await readFile(path);
    if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const set = v8.deserialize(buf.subarray(MAGIC.length)) as FeatureSet;
    return set && set.train && set.val && Number.isInteger(set.dim) ? set : undefined;
  } catch {
    return undefined; // a damaged cache entry is recomputed
  }
}

/** The cached features for `key`, or extracts them (and caches them). */
export async function loadOrExtractFeatures(a: ExtractArgs): Promise<{ set: FeatureSet; hit: boolean; seconds: number; path: string }> {
  const started = performance.now();
  const path = join(a.cacheDir, `${a.key}.bin`);
  const cached = await readFeatureCache(path);
  if (cached && cached.key === a.key) return { set: cached, hit: true, seconds: (performance.now() - started) / 1000, path };

  const graph = buildInferenceGraph(a.spec, { batch: -1, numClasses: 1, inputSize: a.inputSize, featuresOnly: true, constants: a.params });
  const session = await Session.create(graph.bytes, { label: 'feature extraction', ...a.session });
  const batchSize = a.batchSize ?? 32;
  const passes = [{ samples: a.val, transform: a.evalTransform, epoch: 0 }];
  const trainViews = Math.max(1, a.views);
  for (let v = 0; v < trainViews; v++) passes.push({ samples: a.train, transform: a.views > 0 ? a.trainTransform : a.evalTransform, epoch: a.views > 0 ? 1_000_000 + v : 0 });
  const total = passes.reduce((n, p) => n + p.samples.length, 0);
  const batches = passes.reduce((n, p) => n + batchCount(p.samples.length, batchSize), 0);
  let done = 0;
  let images = 0;
  let dim = a.spec.featureDim;
  await a.phase?.start(batches, total);
  // A sample skipped in any view is left out of every view, so the views stay aligned.
  const skipped = new Set<string>();
  const onSkip = (p: string, reason: string) => {
    if (!skipped.has(p)) a.onSkip(p, reason);
    skipped.add(p);
  };
  const results: { rows: Map<string, Float32Array>; labels: Map<string, number> }[] = [];
  try {
    for (const pass of passes) {
      const rows = new Map<string, Float32Array>();
      const labels = new Map<string, number>();
      for await (const batch of imageBatches(pass.samples, pass.transform, { batchSize, shuffle: false, seed: a.seed, epoch: pass.epoch, onSkip })) {
        a.phase?.checkStop();
        const n = batch.labels.length;
        const out = await session.run({ [IO.images]: { dtype: 'float32', shape: [n, 3, a.inputSize, a.inputSize], data: batch.images } }, [IO.features]);
        batch.release();
        const f = out[IO.features].data as Float32Array;
        dim = f.length / n;
        batch.paths.forEach((p, i) => {
          rows.set(p, f.slice(i * dim, (i + 1) * dim));
          labels.set(p, batch.labels[i]);
        });
        done++;
        images += n;
        await a.phase?.batch(done, images);
      }
      results.push({ rows, labels });
    }
  } finally {
    await session.release();
  }
  const split = (samples: readonly Sample[], parts: typeof results): FeatureSplit => {
    const keep = samples.filter((s) => !skipped.has(s.path));
    const views = parts.map((r) => {
      const m = new Float32Array(keep.length * dim);
      keep.forEach((s, i) => m.set(r.rows.get(s.path)!, i * dim));
      return m;
    });
    return { views, labels: Int32Array.from(keep, (s) => s.label), paths: keep.map((s) => s.path) };
  };
  const set: FeatureSet = { key: a.key, dim, val: split(a.val, results.slice(0, 1)), train: split(a.train, results.slice(1)) };
  await mkdir(a.cacheDir, { recursive: true });
  await writeFileAtomic(path, Buffer.concat([MAGIC, v8.serialize(set)]));
  const seconds = (performance.now() - started) / 1000;
  await a.phase?.end(null, null, images);
  return { set, hit: false, seconds, path };
}
