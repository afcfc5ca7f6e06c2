/**
 * The train and eval pipelines of a model, built from its PreprocessSpec only, so training
 * and inference share size, normalisation and interpolation:
 * - train: RandomResizedCrop(inputSize) + RandomHorizontalFlip [+ ColorJitter] [+ TrivialAugmentWide
 *   or RandAugment, the `preset`]: libvips decodes the crop and downscales it (JPEG crops that
 *   shrink 6x or more with shrink-on-load), upscales run PIL's resampler in JS fused with the
 *   normalisation, all within a stated tolerance of PIL (decode-augmented.ts), unless
 *   `exactAugment`;
 * - eval: Resize(resizeSize) + CenterCrop(inputSize): torchvision's bytes exactly (libvips decodes
 *   the pixels the centre crop needs, PIL's resampler in JS resizes them).
 * Where the native JPEG decoder is built (decode-native.ts), JPEGs take it on both: torchvision's
 * bytes exactly, except shrink-on-load of training crops that shrink 6x or more.
 */
import { z } from 'zod';
import { parseOrThrow } from '../zod-issues.js';
import { Pipeline } from './pipeline.js';
import { PreprocessSpecSchema, type PreprocessSpec } from './preprocess.js';
import { centerCrop } from './transforms/center-crop.js';
import { colorJitter } from './transforms/color-jitter.js';
import { randAugment, trivialAugmentWide } from './transforms/auto-augment.js';
import { randomHorizontalFlip } from './transforms/horizontal-flip.js';
import { randomResizedCrop } from './transforms/random-resized-crop.js';
import { resize } from './transforms/resize.js';
import type { ImageTransform } from './transforms/transform.js';

const range = z.tuple([z.number(), z.number()]).refine(([a, b]) => a <= b, { message: 'range must be [low, high] with low <= high' });

/**
 * The augmentation presets: none (the eval transform), basic (RandomResizedCrop + flip),
 * trivial (basic + TrivialAugmentWide), randaugment (basic + RandAugment(2, 9)).
 */
export const AUGMENT_PRESETS = ['none', 'basic', 'trivial', 'randaugment'] as const;
export type AugmentPreset = (typeof AUGMENT_PRESETS)[number];

export const TrainTransformOptionsSchema = z.strictObject({
  /** What follows the crop and flip: 'basic' nothing, 'trivial' TrivialAugmentWide, 'randaugment' RandAugment(2, 9). */
  preset: z.enum(['basic', 'trivial', 'randaugment']).default('basic'),
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
  if (o.preset === 'trivial') steps.push(trivialAugmentWide());
  else if (o.preset === 'randaugment') steps.push(randAugment());
  return new Pipeline(steps, { mean: s.mean, std: s.std, ...(o.exactAugment ? { exact: true } : o.libvipsAugment ? { fastAugment: true } : { shrinkOnLoad: true, libvipsDownscale: true }) });
}

export function buildEvalTransform(spec: PreprocessSpec): Pipeline {
  const s = parse(PreprocessSpecSchema, spec, 'buildEvalTransform: invalid preprocess spec');
  return new Pipeline([resize(s.resizeSize, s.interpolation), centerCrop(s.inputSize)], { mean: s.mean, std: s.std });
}

/** The training transform of a preset: the eval transform for 'none'. */
export function buildPresetTransform(spec: PreprocessSpec, preset: AugmentPreset, options?: Omit<TrainTransformOptions, 'preset'>): Pipeline {
  return preset === 'none' ? buildEvalTransform(spec) : buildTrainTransform(spec, { ...options, preset });
}
