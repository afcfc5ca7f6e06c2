/**
 * Resize: torchvision's T.Resize on a PIL image. An integer size sets the shorter side (the
 * longer one keeps the aspect ratio, truncated: int(size * long / short)); a [height, width]
 * pair sets both. Downscaling is antialiased (PIL's filter support grows with the scale).
 */
import { ConfigError } from '../../errors.js';
import type { Interpolation } from '../preprocess.js';
import type { RandomSource } from '../../random.js';
import type { RgbImage } from '../rgb-image.js';
import { executeGeometry } from './execute-geometry.js';
import { geometrySize, identityGeometry, type Geometry, type Size } from './geometry.js';
import type { GeometricTransform } from './transform.js';

/** torchvision's _compute_resized_output_size for PIL images (no max_size). */
export function resizedSize(input: Size, size: number | readonly [number, number]): Size {
  if (typeof size !== 'number') return { width: size[1], height: size[0] };
  const { width: w, height: h } = input;
  const short = Math.min(w, h);
  const long = Math.max(w, h);
  const newLong = Math.trunc((size * long) / short);
  return w <= h ? { width: size, height: newLong } : { width: newLong, height: size };
}

export function resize(size: number | readonly [number, number], interpolation: Interpolation = 'bilinear'): GeometricTransform {
  const sizes = typeof size === 'number' ? [size] : [...size];
  if (!sizes.every((s) => Number.isInteger(s) && s > 0)) throw new ConfigError('E_BAD_OPTION', `resize: size must be positive integers, got ${JSON.stringify(size)}`);
  return {
    kind: 'geometric',
    name: `Resize(${JSON.stringify(size)}, ${interpolation})`,
    outputSize: typeof size === 'number' ? undefined : { width: size[1], height: size[0] },
    spec: { op: 'resize', size: typeof size === 'number' ? size : [...size], interpolation },
    // One resampling per pipeline: a second resize (or one after a post-resize crop or a flip) is not fused.
    canCompose: (g: Geometry) => g.resize === null && g.post === null && !g.flip,
    compose(g: Geometry): Geometry {
      const current = geometrySize(g);
      const target = resizedSize(current, size);
      if (target.width === current.width && target.height === current.height) return g; // torchvision returns the image as is
      return { ...g, resize: target, interpolation };
    },
    apply(image: RgbImage, _rng: RandomSource): RgbImage {
      return executeGeometry(image, this.compose(identityGeometry(image, interpolation), _rng));
    },
  };
}
