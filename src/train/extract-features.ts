/**
 * Feature extraction as a phase of a run: the cache key for this data, model, weights and
 * transform, then the features from the cache or through the backbone (one 'extract' phase of
 * events), and a line saying which.
 */
import { resolve } from 'node:path';
import type { Sample } from '../data/sample.js';
import type { SetupEmitter, TrainHooks } from './events.js';
import { featureCacheDir, featureCacheKey, loadOrExtractFeatures, type FeatureSet } from './feature-cache.js';
import type { ParsedTrainOptions } from './options.js';
import { PhaseReporter } from './phase-reporter.js';
import type { RunSetup } from './run-setup.js';

export interface ExtractedFeatures {
  set: FeatureSet;
  path: string;
  hit: boolean;
  seconds: number;
}

export async function extractFeatures(
  s: RunSetup,
  o: ParsedTrainOptions,
  bus: SetupEmitter,
  hooks: TrainHooks,
  split: { train: readonly Sample[]; val: readonly Sample[] },
  views: number,
  onSkip: (path: string, reason: string) => void,
  /** Cache another graph's output instead of the backbone's features (`id` names it in the key). */
  backbone?: { id: string; graph: Uint8Array },
): Promise<ExtractedFeatures> {
  const inputSize = s.preprocess.inputSize;
  const transform = `${views > 0 ? s.trainTransform.describe() : ''} | ${s.evalTransform.describe()}`;
  const key = await featureCacheKey({ ...split, model: backbone ? `${s.spec.name}|${backbone.id}` : s.spec.name, weightsId: s.weightsId, transform, inputSize, views, seed: o.seed });
  const r = await loadOrExtractFeatures({
    spec: s.spec,
    params: s.params,
    inputSize,
    ...split,
    trainTransform: s.trainTransform,
    evalTransform: s.evalTransform,
    views,
    seed: o.seed,
    key,
    cacheDir: o.cacheDir ? resolve(o.cacheDir) : featureCacheDir(),
    session: s.session,
    onSkip,
    phase: new PhaseReporter((n, p) => bus.emit(n, p), null, 'extract', hooks.signal),
    onNote: (message) => void bus.emit('log', { level: 'warn', message }),
    ...(backbone ? { graph: backbone.graph } : {}),
  });
  const [train, views_, val] = [r.set.train.labels.length, r.set.train.views.length, r.set.val.labels.length];
  await bus.emit('log', {
    level: 'info',
    message: r.hit ? `features: reused the cache (${train} train x ${views_} view(s), ${val} val) from ${r.path}` : `features: cached ${train} train x ${views_} view(s) and ${val} val in ${r.path}`,
  });
  return r;
}
