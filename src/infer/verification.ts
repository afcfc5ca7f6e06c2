/**
 * A self-verifying classifier file. `recordVerification` runs a few validation images (as
 * PNGs at the model's input size) through the model and records what it gives;
 * `verifyClassifier` decodes them again, applies the stored preprocessing, runs the model in
 * this ONNX Runtime and fails, naming the first difference, when anything disagrees beyond
 * 1e-4 — a tampered preprocessing, a runtime fed another mean/std, or a runtime that computes
 * differently. The browser twin is verify-browser.ts.
 */
import sharp from 'sharp';
import { decodeImage } from '../data/decode.js';
import type { PreprocessSpec } from '../data/preprocess.js';
import type { RgbImage } from '../data/rgb-image.js';
import { normalizationTable, writeNormalized, type Rgb } from '../data/transforms/normalize.js';
import { Session } from '../engine/session.js';
import { ConfigError, WeightsError } from '../errors.js';
import { softmaxRowInto } from '../metrics/classification.js';
import type { ClassifierMetadata } from './classifier-metadata.js';
import { readClassifier, type ClassifierFile } from './model-file.js';
import { channelStats, compareSample, preprocessDifferences, VERIFY_TOLERANCE, type SampleObservation, type VerificationRecord, type VerificationSample } from './verification-record.js';

const TOP_K = 5;

/** The normalised CHW tensor of an input-size RGB image, exactly as the data pipeline writes it. */
function normalizedInput(image: RgbImage, mean: Rgb, std: Rgb): Float32Array {
  const out = new Float32Array(3 * image.width * image.height);
  writeNormalized(image, normalizationTable(mean, std), out);
  return out;
}

async function runSample(session: Session, outputNames: readonly string[], tensor: Float32Array, size: number, k: number): Promise<Omit<SampleObservation, 'inputMean' | 'inputStd'>> {
  const wanted = ['logits', 'probabilities', 'score', 'unknown'].filter((n) => outputNames.includes(n));
  const r = await session.run({ images: { dtype: 'float32', shape: [1, 3, size, size], data: tensor } }, wanted);
  let probabilities: Float32Array;
  if (r.probabilities) probabilities = r.probabilities.data as Float32Array;
  else {
    probabilities = new Float32Array(k);
    softmaxRowInto(r.logits.data as Float32Array, 0, k, probabilities);
  }
  return {
    probabilities,
    ...(r.score ? { score: Number(r.score.data[0]) } : {}),
    ...(r.unknown ? { unknown: Boolean(r.unknown.data[0]) } : {}),
  };
}

export interface VerificationImage {
  name: string;
  label: string | null;
  /** RGB at the model's input size (the eval transform's resize + crop already applied). */
  image: RgbImage;
}

/** Runs `bytes` (a classifier file) on the images and records the expectations. */
export async function recordVerification(bytes: Uint8Array, metadata: ClassifierMetadata, images: readonly VerificationImage[], options: { threads?: number } = {}): Promise<VerificationRecord> {
  const p = metadata.preprocess;
  const k = metadata.classes.length;
  const session = await Session.create(bytes, { threads: options.threads, label: 'classifier (self-check)' });
  try {
    const samples: VerificationSample[] = [];
    for (const img of images) {
      if (img.image.width !== p.inputSize || img.image.height !== p.inputSize) {
        throw new ConfigError('E_BAD_ARGUMENT', `recordVerification: \`${img.name}\` is ${img.image.width}x${img.image.height}, expected the input size ${p.inputSize}x${p.inputSize}`);
      }
      const png = await sharp(img.image.data, { raw: { width: img.image.width, height: img.image.height, channels: 3 } })
        .png()
        .toBuffer();
      // The expectations come from the decoded PNG, the same path the check takes.
      const decoded = await decodeImage(png, img.name);
      const tensor = normalizedInput(decoded, p.mean, p.std);
      const stats = channelStats(tensor, p.inputSize);
      const seen = await runSample(session, session.outputNames, tensor, p.inputSize, k);
      const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => seen.probabilities[b] - seen.probabilities[a]);
      samples.push({
        name: img.name,
        label: img.label,
        png: png.toString('base64'),
        inputMean: stats.mean,
        inputStd: stats.std,
        top: order.slice(0, Math.min(TOP_K, k)).map((index) => ({ index, probability: seen.probabilities[index] })),
        ...(seen.score !== undefined ? { score: seen.score } : {}),
        ...(seen.unknown !== undefined ? { unknown: seen.unknown } : {}),
      });
    }
    return { format: 'headstart-verification', version: 1, tolerance: VERIFY_TOLERANCE, preprocess: { ...p }, samples };
  } finally {
    await session.release();
  }
}

export interface VerifyOptions {
  /** Normalise with this mean / std instead of the stored ones (to check a runtime's own preprocessing). */
  mean?: Rgb;
  std?: Rgb;
  threads?: number;
}

export interface VerifyReport {
  model: string;
  samples: number;
  /** Largest difference seen over the recorded probabilities. */
  maxDifference: number;
  tolerance: number;
  runtime: string;
}

/** The record of a classifier file, or a clear error when it has none. */
export function verificationOf(file: ClassifierFile, where: string): VerificationRecord {
  if (!file.verification) {
    throw new WeightsError('E_INCOMPATIBLE_INPUT', `${where} carries no self-check (no \`headstart.verification\` metadata)`, {
      hint: 'retrain with `headstart train` (it stores --verify-samples val images, 3 by default), or check the model with `headstart evaluate`',
    });
  }
  return file.verification;
}

/** Fails when the stored preprocessing is not the one the expectations were recorded with. */
export function checkStoredPreprocess(stored: PreprocessSpec, record: VerificationRecord, where: string): void {
  const diff = preprocessDifferences(stored, record.preprocess);
  if (diff.length) {
    throw new WeightsError('E_VERIFY_MISMATCH', `${where}: the stored preprocessing differs from the one its self-check was recorded with: ${diff.join('; ')}`, {
      hint: 'the metadata was edited after training: restore it, or retrain to record a new self-check',
    });
  }
}

/** Decodes, preprocesses and runs every stored sample in onnxruntime-node; throws E_VERIFY_MISMATCH on the first difference. */
export async function verifyClassifier(modelPath: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const where = `\`${modelPath}\``;
  const file = await readClassifier(modelPath);
  const record = verificationOf(file, where);
  const p = file.metadata.preprocess;
  checkStoredPreprocess(p, record, where);
  const mean = options.mean ?? p.mean;
  const std = options.std ?? p.std;
  const k = file.metadata.classes.length;
  const session = await Session.create(file.bytes, { threads: options.threads, label: `classifier ${where}` });
  let maxDifference = 0;
  try {
    for (let i = 0; i < record.samples.length; i++) {
      const s = record.samples[i];
      const image = await decodeImage(Buffer.from(s.png, 'base64'), s.name);
      if (image.width !== p.inputSize || image.height !== p.inputSize) {
        throw new WeightsError('E_VERIFY_MISMATCH', `${where}: sample ${i + 1} (\`${s.name}\`) is ${image.width}x${image.height}, but the stored input size is ${p.inputSize}`, {
          hint: 'the stored preprocessing (inputSize) or the sample was edited; retrain to record a new self-check',
        });
      }
      const tensor = normalizedInput(image, mean, std);
      const stats = channelStats(tensor, p.inputSize);
      const seen = { inputMean: stats.mean, inputStd: stats.std, ...(await runSample(session, file.outputNames, tensor, p.inputSize, k)) };
      const diff = compareSample(record, i, seen, file.metadata.classes, { mean, std });
      if (diff) throw new WeightsError('E_VERIFY_MISMATCH', `${where} does not reproduce its self-check in onnxruntime-node: ${diff}`, { hint: verifyHint(options) });
      for (const t of s.top) maxDifference = Math.max(maxDifference, Math.abs(seen.probabilities[t.index] - t.probability));
    }
  } finally {
    await session.release();
  }
  return { model: modelPath, samples: record.samples.length, maxDifference, tolerance: record.tolerance, runtime: 'onnxruntime-node' };
}

function verifyHint(o: VerifyOptions): string {
  return o.mean || o.std
    ? 'the runtime must normalise with the mean/std stored in the model (headstart.preprocess)'
    : 'the model file or this ONNX Runtime differs from the one that trained it: re-download the model, or compare runtime versions';
}
