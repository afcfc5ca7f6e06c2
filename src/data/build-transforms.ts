/**
 * The train and eval pipelines of a model, built from its PreprocessSpec only, so training
 * and inference share size, normalisation and interpolation:
 * - train: RandomResizedCrop(inputSize) + RandomHorizontalFlip [+ ColorJitter], resampled by
 *   libvips (within a stated tolerance of PIL) unless `exactAugment`;
 * - eval: Resize(resizeSize) + CenterCrop(inputSize), always on the exact path.
 */
import { z } from 'zod';
import { parseOrThrow } from '../zod-issues.js';
import { Pipeline } from './pipeline.js';
import { PreprocessSpecSchema, type PreprocessSpec } from './preprocess.js';
import { centerCrop } from './transforms/center-crop.js';
import { colorJitter } from './transforms/color-jitter.js';
import { randomHorizontalFlip } from './transforms/horizontal-flip.js';
import { randomResizedCrop } from './transforms/random-resized-crop.js';
import { resize } from './transforms/resize.js';
import type { ImageTransform } from './transforms/transform.js';

const range = z.tuple([z.number(), z.number()]).refine(([a, b]) => a <= b, { message: 'range must be [low, high] with low <= high' });

export const TrainTransformOptionsSchema = z.strictObject({
  /** RandomResizedCrop's area fraction range. */
  scale: range.default([0.08, 1]),
  /** RandomResizedCrop's aspect-ratio range. */
  ratio: range.default([3 / 4, 4 / 3]),
  /** Probability of the horizontal flip (0 disables it). */
  hflip: z.number().min(0).max(1).default(0.5),
  /** ColorJitter strengths; omitted or all zero = no jitter. */
  colorJitter: z
    .strictObject({
      brightness: z.number().min(0).default(0),
      contrast: z.number().min(0).default(0),
      saturation: z.number().min(0).default(0),
      hue: z.number().min(0).max(0.5).default(0),
    })
    .optional(),
  /**
   * Decode whole images and resample with PIL's exact kernels in JS (bit for bit torchvision's,
   * for parity tests) instead of libvips' own kernels and JPEG shrink-on-load (faster, within
   * a stated tolerance: decode-augmented.ts).
   */
  exactAugment: z.boolean().default(false),
  /**
   * Crop and resize in one libvips call with a fused normalisation pass (decode-augmented.ts).
   * Off by default: on a quiet 2-core machine it measured slower in wall time and CPU-ms per
   * image than the default path (libvips decode + JS resampling where upscaling), although it
   * executes fewer instructions in callgrind (bench:data, 2026-12-06).
   */
  libvipsAugment: z.boolean().default(false),
});

export type TrainTransformOptions = z.input<typeof TrainTransformOptionsSchema>;

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  return parseOrThrow(schema, value, where, 'see PreprocessSpecSchema and TrainTransformOptionsSchema in src/data/');
}

export function buildTrainTransform(spec: PreprocessSpec, options?: TrainTransformOptions): Pipeline {
  const s = parse(PreprocessSpecSchema, spec, 'buildTrainTransform: invalid preprocess spec');
  const o = parse(TrainTransformOptionsSchema, options ?? {}, 'buildTrainTransform: invalid options');
  const steps: ImageTransform[] = [randomResizedCrop(s.inputSize, { scale: o.scale, ratio: o.ratio, interpolation: s.interpolation })];
  if (o.hflip > 0) steps.push(randomHorizontalFlip(o.hflip));
  const j = o.colorJitter;
  if (j && (j.brightness || j.contrast || j.saturation || j.hue)) steps.push(colorJitter(j));
  return new Pipeline(steps, { mean: s.mean, std: s.std, ...(o.exactAugment ? { exact: true } : o.libvipsAugment ? { fastAugment: true } : {}) });
}

export function buildEvalTransform(spec: PreprocessSpec): Pipeline {
  const s = parse(PreprocessSpecSchema, spec, 'buildEvalTransform: invalid preprocess spec');
  return new Pipeline([resize(s.resizeSize, s.interpolation), centerCrop(s.inputSize)], { mean: s.mean, std: s.std });
}
