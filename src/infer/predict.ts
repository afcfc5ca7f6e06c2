/**
 * `predict`: top-k classes and probabilities for image files and folders, with a trained
 * model.onnx. Preprocessing comes from the model's stored PreprocessSpec; unreadable images
 * are reported in `skipped`, never fatal.
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
}

export interface PredictResult {
  model: ClassifierMetadata;
  classes: string[];
  predictions: Prediction[];
  skipped: SkippedImage[];
  tta: boolean;
  seconds: number;
}

/** The file name without folder and extension. */
export function fileStem(path: string): string {
  const name = basename(path);
  return name.slice(0, name.length - extname(name).length) || name;
}

export async function predict(modelPath: string, inputs: string | readonly string[], options?: PredictOptions): Promise<PredictResult> {
  const opts = parseOptions(PredictOptionsSchema, options, 'predict');
  const start = performance.now();
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
  try {
    const { images, skipped } = await classifier.classifyFiles(paths, { batchSize: opts.batchSize, tta: opts.tta, onProgress: opts.onProgress });
    const classes = classifier.classes;
    const predictions = images.map(({ path, probabilities }) => ({
      path,
      id: fileStem(path),
      top: topK(probabilities, classes, opts.topK),
      probabilities: Array.from(probabilities),
    }));
    return { model: classifier.metadata, classes, predictions, skipped, tta: opts.tta, seconds: (performance.now() - start) / 1000 };
  } finally {
    await classifier.release();
  }
}
