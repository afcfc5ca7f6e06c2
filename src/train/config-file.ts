/**
 * config.json of a finished run: the resolved configuration, the data it saw (root, classes,
 * counts, skipped files, a fingerprint), the preprocessing, the auto-mode decision, the
 * feature cache, and the versions that produced it.
 */
import { resolve } from 'node:path';
import ort from 'onnxruntime-node';
import { HEADSTART_VERSION } from '../version.js';
import type { AutoDecision } from './auto-mode.js';
import { datasetHash } from './dataset-hash.js';
import type { ResolvedTrainConfig } from './options.js';
import type { RunSetup } from './run-setup.js';

export interface RunConfigFileInput {
  config: ResolvedTrainConfig;
  dataRoot: string;
  setup: RunSetup;
  skipped: string[];
  autoDecision?: AutoDecision;
  featureCache?: { path: string; hit: boolean; seconds: number };
  /** The engine that ran the fine-tuning step (src/train/train-engine.ts). */
  engineUsed?: 'onnx' | 'native';
}

export async function runConfigFile(a: RunConfigFileInput): Promise<Record<string, unknown>> {
  const { folder } = a.setup;
  const root = resolve(a.dataRoot);
  // Counts are of the images used: those that could not be read are listed, not counted.
  const skipped = new Set(a.skipped);
  const used = (samples: readonly { path: string }[]) => samples.filter((x) => !skipped.has(x.path)).length;
  return {
    ...a.config,
    created_at: new Date().toISOString(),
    data: {
      root,
      classes: a.setup.classes,
      train_images: used(folder.train),
      val_images: used(folder.val),
      val_source: folder.valSource,
      split: folder.split,
      skipped_images: a.skipped,
      sha256: await datasetHash(root, { train: folder.train, val: folder.val }),
    },
    preprocess: a.setup.preprocess,
    ...(a.autoDecision ? { auto: { chose: a.autoDecision.mode, probe_val_acc: a.autoDecision.probeAcc, reason: a.autoDecision.reason } } : {}),
    ...(a.featureCache ? { feature_cache: a.featureCache } : {}),
    ...(a.engineUsed ? { engine_used: a.engineUsed } : {}),
    versions: { headstart: HEADSTART_VERSION, node: process.versions.node, 'onnxruntime-node': ort.env.versions.node ?? 'unknown', platform: `${process.platform}-${process.arch}` },
  };
}
