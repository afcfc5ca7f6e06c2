/**
 * A loaded classifier: the model file's metadata, its eval transform (from the stored
 * PreprocessSpec, so inference preprocesses exactly as validation did) and an ONNX Runtime
 * session. `classifyFiles` decodes images in batches (the next batch decodes while the
 * current one runs), returns softmax probabilities per image, and reports images that
 * cannot be decoded instead of failing on them.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { buildEvalTransform } from '../data/build-transforms.js';
import type { Pipeline } from '../data/pipeline.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { createLoader } from '../data/loader.js';
import { Session } from '../engine/session.js';
import { flipBatchHorizontal } from './flip-batch.js';
import { readClassifier, type ClassifierFile, type ClassifierMetadata } from './model-file.js';
import { softmaxRowInto } from '../metrics/classification.js';
import { CLASSIFIER_OUTPUTS } from '../graphs/calibrated-outputs.js';

export const ClassifierOptionsSchema = z.strictObject({
  /** Intra-op threads of ONNX Runtime (default: all cores). */
  threads: z.number().int().positive().optional(),
  device: z.enum(['cpu', 'cuda']).default('cpu'),
  /** For a foreign ONNX classifier without headstart metadata: its class names ... */
  classes: z.array(z.string().min(1)).min(1).optional(),
  /** ... and its preprocessing. */
  preprocess: PreprocessSpecSchema.optional(),
});
export type ClassifierOptions = z.input<typeof ClassifierOptionsSchema>;

export const ClassifyOptionsSchema = z.strictObject({
  batchSize: z.number().int().positive().default(16),
  /** Average the probabilities of the image and its horizontal mirror. */
  tta: z.boolean().default(false),
  /** Called after each batch with the number of files handled so far. */
  onProgress: z.custom<(done: number, total: number) => void>((v) => typeof v === 'function', 'expected a function').optional(),
});
export type ClassifyOptions = z.input<typeof ClassifyOptionsSchema>;

export interface ClassifiedImage {
  path: string;
  /** Softmax probabilities, one per class (averaged over the views with TTA); calibrated when the model is. */
  probabilities: Float32Array;
  /** With a model that has an "unknown" threshold: its score (averaged over the views) and whether it is below the threshold. */
  score?: number;
  unknown?: boolean;
}

/** Probabilities of a batch, with the rejection score and answer when the model has a threshold. */
export interface ClassifiedTensor {
  probabilities: Float32Array;
  score?: Float32Array;
  unknown?: Uint8Array;
}

export interface SkippedImage {
  path: string;
  reason: string;
}

export interface ClassifiedBatch {
  images: ClassifiedImage[];
  /** Files found unreadable since the previous batch (index: position in the input list). */
  skipped: (SkippedImage & { index: number })[];
  /** Files handled so far, of `total`. */
  done: number;
  total: number;
}

export interface ClassifyResult {
  images: ClassifiedImage[];
  skipped: SkippedImage[];
}

export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  return parseOrThrow(schema, value ?? {}, `${where}: invalid options`);
}

/** Row-wise softmax of logits [n, k] into out (float32), stably. */
function softmaxInto(logits: ArrayLike<number>, n: number, k: number, out: Float32Array, scale = 1, accumulate = false): void {
  for (let r = 0; r < n; r++) softmaxRowInto(logits, r, k, out, scale, accumulate);
}

export class Classifier {
  private constructor(
    readonly file: ClassifierFile,
    readonly transform: Pipeline,
    private readonly session: Session,
    readonly source: string,
  ) {}

  static async load(modelPath: string, options?: ClassifierOptions): Promise<Classifier> {
    const opts = parseOptions(ClassifierOptionsSchema, options, 'Classifier.load');
    const file = await readClassifier(modelPath, { classes: opts.classes, preprocess: opts.preprocess });
    const size = file.metadata.preprocess.inputSize;
    const [, , h, w] = file.input.shape;
    if ((h > 0 && h !== size) || (w > 0 && w !== size)) {
      throw new ConfigError('E_SHAPE_MISMATCH', `\`${modelPath}\` takes ${h}x${w} images but its preprocessing crops ${size}x${size}`, {
        hint: 'give a preprocessing whose inputSize matches the model input',
      });
    }
    const transform = buildEvalTransform(file.metadata.preprocess);
    const session = await Session.create(file.bytes, { threads: opts.threads, device: opts.device, label: `classifier \`${modelPath}\`` });
    return new Classifier(file, transform, session, modelPath);
  }

  get metadata(): ClassifierMetadata {
    return this.file.metadata;
  }

  get classes(): string[] {
    return this.file.metadata.classes;
  }

  /** Probabilities for a normalised NCHW batch of n images. */
  async classifyTensor(tensor: Float32Array, n: number, tta = false): Promise<Float32Array> {
    return (await this.classifyTensorFull(tensor, n, tta)).probabilities;
  }

  /**
   * Probabilities (the graph's calibrated `probabilities` output where it has one), and the
   * graph's `score` and `unknown` where the model has a threshold; with TTA the probabilities
   * and scores are averaged over the views and `unknown` is the averaged score below the threshold.
   */
  async classifyTensorFull(tensor: Float32Array, n: number, tta = false): Promise<ClassifiedTensor> {
    const size = this.metadata.preprocess.inputSize;
    const k = this.classes.length;
    const views = tta ? [tensor, flipBatchHorizontal(tensor, size)] : [tensor];
    const names = this.file.outputNames;
    if (!names.includes(CLASSIFIER_OUTPUTS.probabilities)) {
      const fixedBatch = this.file.input.shape[0] > 0 ? this.file.input.shape[0] : 0;
      const out = new Float32Array(n * k);
      for (const view of views) {
        const logits = await this.runLogits(view, n, fixedBatch);
        softmaxInto(logits, n, k, out, 1 / views.length, view !== views[0]);
      }
      return { probabilities: out };
    }
    const wanted = [CLASSIFIER_OUTPUTS.probabilities, CLASSIFIER_OUTPUTS.score, CLASSIFIER_OUTPUTS.unknown].filter((o) => names.includes(o));
    const probabilities = new Float32Array(n * k);
    const score = names.includes(CLASSIFIER_OUTPUTS.score) ? new Float32Array(n) : undefined;
    let unknown: Uint8Array | undefined;
    for (const view of views) {
      const r = await this.session.run({ [this.file.input.name]: { dtype: 'float32', shape: [n, 3, size, size], data: view } }, wanted);
      const p = r[CLASSIFIER_OUTPUTS.probabilities].data as Float32Array;
      for (let i = 0; i < p.length; i++) probabilities[i] += p[i] / views.length;
      if (score) {
        const sc = r[CLASSIFIER_OUTPUTS.score].data as Float32Array;
        for (let i = 0; i < n; i++) score[i] += sc[i] / views.length;
      }
      if (r[CLASSIFIER_OUTPUTS.unknown] && views.length === 1) unknown = Uint8Array.from(r[CLASSIFIER_OUTPUTS.unknown].data as ArrayLike<number>, (v) => (v ? 1 : 0));
    }
    const threshold = this.metadata.rejection?.threshold;
    if (score && views.length > 1 && threshold !== undefined) unknown = Uint8Array.from(score, (v) => (v < threshold ? 1 : 0));
    return { probabilities, ...(score ? { score } : {}), ...(unknown ? { unknown } : {}) };
  }

  private async runLogits(view: Float32Array, n: number, fixedBatch: number): Promise<Float32Array> {
    const size = this.metadata.preprocess.inputSize;
    const per = 3 * size * size;
    const k = this.classes.length;
    const run = async (data: Float32Array, batch: number): Promise<Float32Array> => {
      const r = await this.session.run({ [this.file.input.name]: { dtype: 'float32', shape: [batch, 3, size, size], data } }, [this.file.output.name]);
      return r[this.file.output.name].data as Float32Array;
    };
    if (!fixedBatch || fixedBatch === n) return run(view, n);
    // A foreign model with a fixed batch size: run it in chunks, padding the last one.
    const logits = new Float32Array(n * k);
    for (let i = 0; i < n; i += fixedBatch) {
      const m = Math.min(fixedBatch, n - i);
      const chunk = new Float32Array(fixedBatch * per);
      chunk.set(view.subarray(i * per, (i + m) * per));
      logits.set((await run(chunk, fixedBatch)).subarray(0, m * k), i * k);
    }
    return logits;
  }

  /** Probabilities for image files, in input order; undecodable files are skipped and listed. */
  async classifyFiles(paths: readonly string[], options?: ClassifyOptions): Promise<ClassifyResult> {
    const images: ClassifiedImage[] = [];
    const skipped: (SkippedImage & { index: number })[] = [];
    for await (const b of this.classifyBatches(paths, options)) {
      images.push(...b.images);
      skipped.push(...b.skipped);
    }
    return { images, skipped: skipped.sort((x, y) => x.index - y.index).map(({ path, reason }) => ({ path, reason })) };
  }

  /**
   * The same, batch by batch as they are classified (memory: one batch, whatever the number
   * of files): each batch's images in input order, the files found unreadable since the last
   * batch, and the count of files handled so far.
   */
  async *classifyBatches(paths: readonly string[], options?: ClassifyOptions): AsyncGenerator<ClassifiedBatch> {
    const opts = parseOptions(ClassifyOptionsSchema, options, 'classifyFiles');
    const k = this.classes.length;
    const fresh: (SkippedImage & { index: number })[] = [];
    // The data loader decodes the next batches while this one runs, and drops unreadable files.
    const loader = createLoader(
      paths.map((path) => ({ path, label: -1 })),
      this.transform,
      { batchSize: opts.batchSize, shuffle: false, prefetch: 1, onSkip: (s) => fresh.push({ path: s.path, reason: s.reason, index: s.index }) },
    );
    let done = 0;
    for await (const batch of loader) {
      const images: ClassifiedImage[] = [];
      if (batch.size > 0) {
        const r = await this.classifyTensorFull(batch.images, batch.size, opts.tta);
        batch.release();
        batch.paths.forEach((path, i) =>
          images.push({
            path,
            probabilities: r.probabilities.slice(i * k, (i + 1) * k),
            ...(r.score ? { score: r.score[i] } : {}),
            ...(r.unknown ? { unknown: r.unknown[i] === 1 } : {}),
          }),
        );
      }
      done = Math.min(paths.length, done + opts.batchSize);
      opts.onProgress?.(done, paths.length);
      yield { images, skipped: fresh.splice(0), done, total: paths.length };
    }
    if (fresh.length) yield { images: [], skipped: fresh.splice(0), done: paths.length, total: paths.length };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
