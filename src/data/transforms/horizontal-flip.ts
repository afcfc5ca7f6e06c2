/** RandomHorizontalFlip(p): mirrors the image left-right with probability p (torch.rand(1) < p). */
import { ConfigError } from '../../errors.js';
import { nextFloat, type RandomSource } from '../../random.js';
import type { Geometry } from './geometry.js';
import type { RgbImage } from '../rgb-image.js';
import type { GeometricTransform } from './transform.js';
import { executeGeometry } from './execute-geometry.js';
import { identityGeometry } from './geometry.js';

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
