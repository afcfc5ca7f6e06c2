/**
 * What makes a trained model's answers trustworthy, fitted after training on the val split
 * and stored in model.onnx: the calibration temperature (src/metrics/calibration.ts), the
 * "unknown" threshold (src/metrics/rejection.ts; at a target false-rejection rate on val, or
 * at the best F1 against a folder of images of none of the classes), and the self-check
 * images (src/infer/verification.ts).
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
import { rejectedFraction, rejectionAuroc, thresholdAtRejectRate, thresholdBestF1, unknownScores, type UnknownScore } from '../metrics/rejection.js';
import { Random } from '../random.js';
import type { ValPredictions } from './mode-runner.js';

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
  /** Scores of the val images and of the unknown images (for the report and the note). */
  knownScores?: Float64Array;
  unknownScores?: Float64Array;
}

/** Logits of image files through a classifier graph's first output, with the eval transform. */
export async function logitsOfFiles(bytes: Uint8Array, paths: readonly string[], transform: Pipeline, size: number, k: number, threads?: number): Promise<Float32Array> {
  const session = await Session.create(bytes, { threads, label: 'classifier (unknown images)' });
  const out: number[] = [];
  try {
    for await (const batch of createLoader(
      paths.map((path) => ({ path, label: -1 })),
      transform,
      { batchSize: 16, workers: 0 },
    )) {
      if (batch.size === 0) continue;
      const r = await session.run({ images: { dtype: 'float32', shape: [batch.size, 3, size, size], data: batch.images } }, ['logits']);
      out.push(...(r.logits.data as Float32Array).subarray(0, batch.size * k));
      batch.release();
    }
  } finally {
    await session.release();
  }
  return Float32Array.from(out);
}

/**
 * Fits the calibration and the threshold from the val predictions (and the unknown images,
 * run through `bytesWithCalibration` — the classifier, calibrated but without a threshold).
 */
export async function fitModelTrust(p: ValPredictions, k: number, o: TrustOptions, unknownLogits: () => Promise<{ logits: Float32Array; images: number }>): Promise<ModelTrust> {
  const trust: ModelTrust = {};
  if (p.labels.length === 0) return trust;
  if (o.calibrate) trust.calibration = calibrateTemperature(p.logits, p.labels, k);
  const T = trust.calibration?.temperature ?? 1;
  if (o.rejectRate <= 0 && !o.unknownDir) return trust;
  const known = unknownScores(p.logits, k, o.unknownScore, T);
  trust.knownScores = known;
  if (o.unknownDir) {
    const u = await unknownLogits();
    if (u.images === 0) {
      throw new DataError('E_NO_DATA', `--unknown-dir \`${o.unknownDir}\` holds no readable image`, { hint: 'give a folder of images that belong to none of the classes' });
    }
    const unknown = unknownScores(u.logits, k, o.unknownScore, T);
    trust.unknownScores = unknown;
    const best = thresholdBestF1(known, unknown);
    trust.rejection = {
      score: o.unknownScore,
      threshold: best.threshold,
      method: 'unknown-dir',
      valRejected: rejectedFraction(known, best.threshold),
      unknownImages: u.images,
      unknownRejected: best.unknownRejected,
      auroc: rejectionAuroc(known, unknown),
    };
  } else {
    const threshold = thresholdAtRejectRate(known, o.rejectRate);
    trust.rejection = { score: o.unknownScore, threshold, method: 'reject-rate', rejectRate: o.rejectRate, valRejected: rejectedFraction(known, threshold) };
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
