/**
 * `predictStream`: `predict` for folders of any size. Predictions come batch by batch as they
 * are computed, so memory holds one batch (plus the list of file names), whatever the number
 * of images; the caller writes them out as they come (CSV rows, JSON lines).
 */
import { ConfigError } from '../errors.js';
import { Classifier, parseOptions, type SkippedImage } from './classifier.js';
import { listImageInputs } from './input-files.js';
import type { ClassifierMetadata } from './model-file.js';
import { fileStem, PredictOptionsSchema, type Prediction, type PredictOptions } from './predict.js';
import { topK } from './top-k.js';

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
          predictions: b.images.map(({ path, probabilities }) => ({ path, id: fileStem(path), top: topK(probabilities, classes, opts.topK), probabilities: Array.from(probabilities) })),
          skipped: b.skipped.map(({ path, reason }) => ({ path, reason })),
          done: b.done,
          total: b.total,
        };
      }
    } finally {
      await classifier.release();
    }
  }
  return { model: classifier.metadata, classes, total: paths.length, tta: opts.tta, [Symbol.asyncIterator]: batches };
}
