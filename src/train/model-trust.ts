/**
 * What makes a trained model's answers trustworthy, fitted after training on the val split
 * and stored in model.onnx: the calibration temperature (src/metrics/calibration.ts), the
 * "unknown" threshold (src/metrics/rejection.ts; at a target false-rejection rate on val, or
 * at the best F1 against a folder of images of none of the classes), and the self-check
 * images (src/infer/verification.ts). The mahalanobis score also fits class centres and a
 * shared covariance of the pooled features of the training images (src/metrics/feature-distance.ts).
 */
import { basename } from 'node:path';
import type { Pipeline } from '../data/pipeline.js';
import { decodeImage } from '../data/decode.js';
import { createLoader } from '../data/loader.js';
import { Session } from '../engine/session.js';
import { DataError } from '../errors.js';
import { listImageInputs } from '../infer/input-files.js';
import type { ClassifierMetadataInput } from '../infer/model-file.js';
import type { VerificationImage } from '../infer/verification.js';
import { calibrateTemperature, type TemperatureCalibration } from '../metrics/calibration.js';
import { featureDistanceScores, fitFeatureDistance, outOfFoldUnknownScores, type FeatureDistanceModel } from '../metrics/feature-distance.js';
import { rejectedFraction, rejectionAuroc, thresholdAtRejectRate, thresholdBestF1, unknownScores, type LogitScore, type UnknownScore } from '../metrics/rejection.js';
import { Random } from '../random.js';
import type { ValPredictions } from './mode-runner.js';
import { concatFloat32 } from '../concat-floats.js';

export interface TrustOptions {
  calibrate: boolean;
  /** Target share of known val images answered "unknown" (0: no rejection, unless unknownDir). */
  rejectRate: number;
  unknownScore: UnknownScore;
  /** Images of none of the classes: the threshold is chosen at the best F1 against them. */
  unknownDir?: string;
  /** Self-check images stored in the model (0: none). */
  verifySamples: number;
}

export interface ModelTrust {
  calibration?: TemperatureCalibration;
  rejection?: NonNullable<ClassifierMetadataInput['rejection']>;
  /** The fitted class centres and covariance of the mahalanobis score (stored in the graph). */
  featureDistance?: FeatureDistanceModel;
  /** Scores of the val images and of the unknown images (for the report and the note). */
  knownScores?: Float64Array;
  /** What the run should say about the fit (e.g. a score that could not be used). */
  notes?: string[];
  unknownScores?: Float64Array;
}

/** What a classifier graph with its `features` output gives for images (the eval transform). */
export interface FileOutputs {
  /** Row-major [N, k]. */
  logits: Float32Array;
  /** Row-major [N, D] pooled features (when the graph outputs them). */
  features?: Float32Array;
  /** The labels of the images read (unreadable files are left out). */
  labels: Int32Array;
  images: number;
}

/** Logits (and features, when the graph outputs `features`) of labelled images, with the eval transform. */
export async function outputsOfSamples(bytes: Uint8Array, samples: readonly { path: string; label: number }[], transform: Pipeline, size: number, threads?: number): Promise<FileOutputs> {
  const session = await Session.create(bytes, { threads, label: 'classifier (trust)' });
  const wanted = session.outputNames.includes('features') ? ['logits', 'features'] : ['logits'];
  const logits: Float32Array[] = [];
  const features: Float32Array[] = [];
  const labels: number[] = [];
  try {
    for await (const batch of createLoader(samples, transform, { batchSize: 16, workers: 0 })) {
      if (batch.size === 0) continue;
      const r = await session.run({ images: { dtype: 'float32', shape: [batch.size, 3, size, size], data: batch.images } }, wanted);
      labels.push(...batch.labels);
      logits.push((r.logits.data as Float32Array).slice());
      if (r.features) features.push((r.features.data as Float32Array).slice());
      batch.release();
    }
  } finally {
    await session.release();
  }
  return { logits: concatFloat32(logits), ...(wanted.length > 1 ? { features: concatFloat32(features) } : {}), labels: Int32Array.from(labels), images: labels.length };
}

/** The pooled features the mahalanobis score is fitted and thresholded on. */
export interface TrustFeatures {
  dim: number;
  /** Row-major [N, D] training features and their labels (class centres and covariance). */
  train: { features: Float32Array; labels: ArrayLike<number> };
  /** Row-major [M, D] val features (the known images the threshold is set on). */
  val: Float32Array;
}

export interface TrustSources {
  /** The --unknown-dir images through the classifier (logits, and features for the mahalanobis score). */
  unknown: () => Promise<FileOutputs>;
  /** Train and val features (only asked for with the mahalanobis score). */
  features: () => Promise<TrustFeatures>;
}

/**
 * Fits the calibration and the threshold from the val predictions (and the unknown images,
 * run through the classifier calibrated but without a threshold).
 */
export async function fitModelTrust(p: ValPredictions, k: number, o: TrustOptions, sources: TrustSources): Promise<ModelTrust> {
  const trust: ModelTrust = {};
  if (p.labels.length === 0) return trust;
  if (o.calibrate) trust.calibration = calibrateTemperature(p.logits, p.labels, k);
  const T = trust.calibration?.temperature ?? 1;
  if (o.rejectRate <= 0 && !o.unknownDir) return trust;
  let kind = o.unknownScore;
  let known: Float64Array | undefined;
  let distance: FeatureDistanceModel | undefined;
  let u: FileOutputs | undefined;
  if (o.unknownDir) {
    u = await sources.unknown();
    if (u.images === 0) {
      throw new DataError('E_NO_DATA', `--unknown-dir \`${o.unknownDir}\` holds no readable image`, { hint: 'give a folder of images that belong to none of the classes' });
    }
  }
  /** The --unknown-dir images' mahalanobis scores, each from a fit that did not include it. */
  let unknownOutOfFold: Float64Array | undefined;
  if (kind === 'mahalanobis') {
    const f = await sources.features();
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < f.train.labels.length; i++) counts[f.train.labels[i]]++;
    const empty = counts.findIndex((c) => c === 0);
    if (empty >= 0) {
      // Nothing is lost for want of a class centre: the run keeps the msp score and says why.
      trust.notes = [`"unknown": class ${empty} has no readable training image, so the mahalanobis score has no centre for it; the msp score is used instead`];
      kind = 'msp';
    } else {
      // With --unknown-dir, those images get a centre of their own (src/metrics/feature-distance.ts).
      const unknownFeatures = u?.features;
      distance = fitFeatureDistance(f.train.features, f.train.labels, k, f.dim, unknownFeatures ? { unknown: unknownFeatures } : {});
      if (unknownFeatures) unknownOutOfFold = outOfFoldUnknownScores(f.train.features, f.train.labels, k, f.dim, unknownFeatures);
      trust.featureDistance = distance;
      known = featureDistanceScores(distance, f.val);
    }
  }
  const logitScore = kind as LogitScore;
  known ??= unknownScores(p.logits, k, logitScore, T);
  trust.knownScores = known;
  const fitted = distance
    ? {
        featureDistance: {
          dim: distance.dim,
          shrinkage: distance.shrinkage,
          trainImages: distance.trainImages,
          covarianceImages: distance.covarianceImages,
          ...(distance.unknownImages ? { unknownImages: distance.unknownImages } : {}),
        },
      }
    : {};
  if (o.unknownDir && u) {
    const unknown = unknownOutOfFold ?? (distance ? featureDistanceScores(distance, u.features!) : unknownScores(u.logits, k, logitScore, T));
    trust.unknownScores = unknown;
    const best = thresholdBestF1(known, unknown);
    trust.rejection = {
      score: kind,
      threshold: best.threshold,
      method: 'unknown-dir',
      valRejected: rejectedFraction(known, best.threshold),
      unknownImages: u.images,
      unknownRejected: best.unknownRejected,
      auroc: rejectionAuroc(known, unknown),
      ...fitted,
    };
  } else {
    const threshold = thresholdAtRejectRate(known, o.rejectRate);
    trust.rejection = { score: kind, threshold, method: 'reject-rate', rejectRate: o.rejectRate, valRejected: rejectedFraction(known, threshold), ...fitted };
  }
  return trust;
}

/** The image files of --unknown-dir. */
export async function unknownFiles(dir: string): Promise<string[]> {
  return listImageInputs([dir]);
}

/**
 * Up to `n` val images for the self-check, one per class first (the first image of each
 * class in val order), as RGB at the input size after the eval transform's resize and crop.
 */
export async function verificationImages(p: ValPredictions, classes: readonly string[], transform: Pipeline, n: number): Promise<VerificationImage[]> {
  const picked: number[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < p.labels.length && picked.length < n; i++) {
    if (!seen.has(p.labels[i])) {
      seen.add(p.labels[i]);
      picked.push(i);
    }
  }
  for (let i = 0; i < p.labels.length && picked.length < n; i++) if (!picked.includes(i)) picked.push(i);
  const out: VerificationImage[] = [];
  for (const i of picked) {
    try {
      const image = transform.applyToImage(await decodeImage(p.paths[i]), new Random(0));
      out.push({ name: basename(p.paths[i]), label: classes[p.labels[i]] ?? null, image });
    } catch {
      // an image that no longer decodes is simply not used for the self-check
    }
  }
  return out;
}
