/**
 * `predict`: top-k classes and probabilities for image files and folders, with a trained
 * model.onnx. Preprocessing comes from the model's stored PreprocessSpec; unreadable images
 * are reported in `skipped`, never fatal. `predictStream` gives the same as batches come, in
 * bounded memory (the CLI's csv/jsonl output); `predict` collects them.
 */
import { basename, extname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { Classifier, parseOptions, type SkippedImage } from './classifier.js';
import { listImageInputs } from './input-files.js';
import type { ClassifierMetadata } from './model-file.js';
import { topK, type RankedClass } from './top-k.js';

export const PredictOptionsSchema = z.strictObject({
  /** How many classes to report per image (at most the class count). */
  topK: z.number().int().positive().default(5),
  /** Test-time augmentation: average with the horizontally flipped view. */
  tta: z.boolean().default(false),
  batchSize: z.number().int().positive().default(16),
  threads: z.number().int().positive().optional(),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  /** Class names and preprocessing for a foreign ONNX classifier without headstart metadata. */
  classes: z.array(z.string().min(1)).min(1).optional(),
  preprocess: PreprocessSpecSchema.optional(),
  onProgress: z.custom<(done: number, total: number) => void>((v) => typeof v === 'function', 'expected a function').optional(),
});
export type PredictOptions = z.input<typeof PredictOptionsSchema>;

export interface Prediction {
  path: string;
  /** The file name without its extension (Kaggle's id). */
  id: string;
  /** The topK most probable classes, most probable first. */
  top: RankedClass[];
  /** Probability of every class, in the model's class order. */
  probabilities: number[];
  /** With a model that has an "unknown" threshold: true when the image looks like none of the classes (`top` is then the best guess), and the score. */
  unknown?: boolean;
  score?: number;
}

export interface PredictResult {
  model: ClassifierMetadata;
  classes: string[];
  predictions: Prediction[];
  skipped: SkippedImage[];
  tta: boolean;
  seconds: number;
}

export async function predict(modelPath: string, inputs: string | readonly string[], options?: PredictOptions): Promise<PredictResult> {
  const start = performance.now();
  const stream = await predictStream(modelPath, inputs, options);
  const predictions: Prediction[] = [];
  const skipped: SkippedImage[] = [];
  for await (const b of stream) {
    predictions.push(...b.predictions);
    skipped.push(...b.skipped);
  }
  return { model: stream.model, classes: stream.classes, predictions, skipped, tta: stream.tta, seconds: (performance.now() - start) / 1000 };
}

export interface PredictionBatch {
  predictions: Prediction[];
  /** Files found unreadable since the previous batch. */
  skipped: SkippedImage[];
  /** Files handled so far, of `total`. */
  done: number;
  total: number;
}

export interface PredictionStream extends AsyncIterable<PredictionBatch> {
  model: ClassifierMetadata;
  classes: string[];
  /** Image files found in the inputs. */
  total: number;
  tta: boolean;
  /** Releases the model of a stream that will not be iterated (iterating releases it at the end). */
  close(): Promise<void>;
}

/**
 * Lists the inputs, loads the model and returns the stream of prediction batches. The model
 * is released when the iteration ends (or is abandoned with `break`/`return`).
 */
export async function predictStream(modelPath: string, inputs: string | readonly string[], options?: PredictOptions): Promise<PredictionStream> {
  const opts = parseOptions(PredictOptionsSchema, options, 'predict');
  const paths = await listImageInputs(typeof inputs === 'string' ? [inputs] : inputs);
  if (paths.length === 0) {
    throw new ConfigError(
      'E_NO_DATA',
      `No image files in ${[inputs]
        .flat()
        .map((i) => `\`${i}\``)
        .join(', ')}`,
      { hint: 'pass image files or folders holding .jpg/.png/.webp/... files' },
    );
  }
  const classifier = await Classifier.load(modelPath, { threads: opts.threads, device: opts.device, classes: opts.classes, preprocess: opts.preprocess });
  const classes = classifier.classes;
  let used = false;
  async function* batches(): AsyncGenerator<PredictionBatch> {
    if (used) throw new ConfigError('E_USAGE', 'predictStream: a prediction stream can be iterated once', { hint: 'call predictStream again' });
    used = true;
    try {
      for await (const b of classifier.classifyBatches(paths, { batchSize: opts.batchSize, tta: opts.tta, onProgress: opts.onProgress })) {
        yield {
          predictions: b.images.map(({ path, probabilities, unknown, score }) => ({
            path,
            id: fileStem(path),
            top: topK(probabilities, classes, opts.topK),
            probabilities: Array.from(probabilities),
            ...(unknown !== undefined ? { unknown } : {}),
            ...(score !== undefined ? { score } : {}),
          })),
          skipped: b.skipped.map(({ path, reason }) => ({ path, reason })),
          done: b.done,
          total: b.total,
        };
      }
    } finally {
      await classifier.release();
    }
  }
  const close = async () => {
    if (used) return;
    used = true;
    await classifier.release();
  };
  return { model: classifier.metadata, classes, total: paths.length, tta: opts.tta, close, [Symbol.asyncIterator]: batches };
}

/** The file name without folder and extension. */
function fileStem(path: string): string {
  const name = basename(path);
  return name.slice(0, name.length - extname(name).length) || name;
}
