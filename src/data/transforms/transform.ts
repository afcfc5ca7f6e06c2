/**
 * The two kinds of transform a pipeline holds. Both are pure: everything random is drawn from
 * the RandomSource passed in, so a seed fixes the result.
 *
 * A geometric transform (crop, resize, flip) composes onto a Geometry, so the pipeline can
 * run all of them in one decode. `apply` must draw exactly the same numbers as `compose`
 * (it is defined as compose-then-execute), so the fast path and the reference agree.
 * A pixel transform (colour) works on the decoded 8-bit image.
 */
import type { RandomSource } from '../../random.js';
import type { RgbImage } from '../rgb-image.js';
import type { Geometry, Size } from './geometry.js';

/**
 * A transform as plain data (op name and parameters), so a pipeline can be rebuilt in a
 * decode worker thread (transforms/from-spec.ts). Transforms without one run in-process.
 */
export interface TransformSpec {
  op: string;
  [param: string]: unknown;
}

export interface GeometricTransform {
  readonly kind: 'geometric';
  readonly name: string;
  /** Whether `compose` can fold this transform onto g (decided from g's structure, before any draw). */
  canCompose(g: Geometry): boolean;
  compose(g: Geometry, rng: RandomSource): Geometry;
  apply(image: RgbImage, rng: RandomSource): RgbImage;
  /** The fixed output size, when the transform guarantees one. */
  readonly outputSize?: Size;
  readonly spec?: TransformSpec;
}

export interface PixelTransform {
  readonly kind: 'pixel';
  readonly name: string;
  apply(image: RgbImage, rng: RandomSource): RgbImage;
  readonly spec?: TransformSpec;
}

export type ImageTransform = GeometricTransform | PixelTransform;
