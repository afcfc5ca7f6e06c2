/** RandomHorizontalFlip(p): mirrors the image left-right with probability p (torch.rand(1) < p). */
import { ConfigError } from '../../errors.js';
import { nextFloat, type RandomSource } from '../../random.js';
import { createRgbImage, type RgbImage } from '../rgb-image.js';
import type { Geometry } from './geometry.js';
import type { GeometricTransform } from './transform.js';
import { executeGeometry, identityGeometry } from './geometry.js';

export function flipHorizontal(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  const out = createRgbImage(width, height);
  const o = out.data;
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      o[d] = data[s];
      o[d + 1] = data[s + 1];
      o[d + 2] = data[s + 2];
    }
  }
  return out;
}

export function randomHorizontalFlip(p = 0.5): GeometricTransform {
  if (!(p >= 0 && p <= 1)) throw new ConfigError('E_BAD_OPTION', `randomHorizontalFlip: p must be in [0, 1], got ${p}`);
  return {
    kind: 'geometric',
    name: `RandomHorizontalFlip(p=${p})`,
    spec: { op: 'randomHorizontalFlip', p },
    canCompose: () => true,
    compose(g: Geometry, rng: RandomSource): Geometry {
      return nextFloat(rng) < p ? { ...g, flip: !g.flip } : g;
    },
    apply(image: RgbImage, rng: RandomSource): RgbImage {
      return executeGeometry(image, this.compose(identityGeometry(image), rng));
    },
  };
}
