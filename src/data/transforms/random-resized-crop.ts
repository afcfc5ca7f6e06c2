/**
 * RandomResizedCrop: torchvision's sampling, step for step. Up to 10 tries of an area
 * fraction uniform in `scale` and an aspect ratio log-uniform in `ratio` (both drawn as
 * float32 tensors), sizes rounded with Python's round, accepted when the box fits, its
 * offsets drawn with randint; after 10 misses, the centre crop clamped to `ratio`. The box
 * is then resized to size x size.
 */
import { ConfigError } from '../../errors.js';
import type { Interpolation } from '../preprocess.js';
import { randomInt, uniformFloat32, type RandomSource } from '../../random.js';
import type { RgbImage } from '../rgb-image.js';
import { executeGeometry } from './execute-geometry.js';
import { identityGeometry, type Box, type Geometry, type Size } from './geometry.js';
import { roundHalfEven } from './round-half-even.js';
import type { GeometricTransform } from './transform.js';

export interface ResizedCropOptions {
  scale: readonly [number, number];
  ratio: readonly [number, number];
}

const DEFAULT_RESIZED_CROP: ResizedCropOptions = { scale: [0.08, 1], ratio: [3 / 4, 4 / 3] };

/** RandomResizedCrop.get_params: the box (in the image's coordinates) to crop. */
export function sampleResizedCropBox(image: Size, rng: RandomSource, options: ResizedCropOptions = DEFAULT_RESIZED_CROP): Box {
  const { width, height } = image;
  const area = height * width;
  const [s0, s1] = options.scale;
  const [r0, r1] = options.ratio;
  // torch.log(torch.tensor(ratio)): float32 in, float32 out.
  const logR0 = Math.fround(Math.log(Math.fround(r0)));
  const logR1 = Math.fround(Math.log(Math.fround(r1)));
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * uniformFloat32(rng, s0, s1);
    const aspect = Math.fround(Math.exp(uniformFloat32(rng, logR0, logR1)));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = randomInt(rng, 0, height - h + 1);
      const left = randomInt(rng, 0, width - w + 1);
      return { left, top, width: w, height: h };
    }
  }
  // Fallback to the central crop.
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(r0, r1)) {
    w = width;
    h = roundHalfEven(w / Math.min(r0, r1));
  } else if (inRatio > Math.max(r0, r1)) {
    h = height;
    w = roundHalfEven(h * Math.max(r0, r1));
  } else {
    w = width;
    h = height;
  }
  return { left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h };
}

export function randomResizedCrop(size: number, options: Partial<ResizedCropOptions> & { interpolation?: Interpolation } = {}): GeometricTransform {
  const crop: ResizedCropOptions = { scale: options.scale ?? DEFAULT_RESIZED_CROP.scale, ratio: options.ratio ?? DEFAULT_RESIZED_CROP.ratio };
  const interpolation = options.interpolation ?? 'bilinear';
  if (!(Number.isInteger(size) && size > 0)) throw new ConfigError('E_BAD_OPTION', `randomResizedCrop: size must be a positive integer, got ${size}`);
  if (!(crop.scale[0] <= crop.scale[1] && crop.ratio[0] <= crop.ratio[1] && crop.scale[0] >= 0 && crop.ratio[0] > 0)) {
    throw new ConfigError('E_BAD_OPTION', `randomResizedCrop: scale and ratio must be increasing ranges, got scale ${crop.scale}, ratio ${crop.ratio}`);
  }
  return {
    kind: 'geometric',
    name: `RandomResizedCrop(${size}, scale=${crop.scale}, ratio=${crop.ratio}, ${interpolation})`,
    outputSize: { width: size, height: size },
    spec: { op: 'randomResizedCrop', size, scale: [...crop.scale], ratio: [...crop.ratio], interpolation },
    canCompose: (g: Geometry) => g.resize === null && g.post === null && !g.flip,
    compose(g: Geometry, rng: RandomSource): Geometry {
      const box = sampleResizedCropBox({ width: g.crop.width, height: g.crop.height }, rng, crop);
      const cropBox = { left: g.crop.left + box.left, top: g.crop.top + box.top, width: box.width, height: box.height };
      // F.resized_crop leaves a crop that already has the target size untouched.
      const same = box.width === size && box.height === size;
      return { ...g, crop: cropBox, resize: same ? null : { width: size, height: size }, interpolation };
    },
    apply(image: RgbImage, rng: RandomSource): RgbImage {
      return executeGeometry(image, this.compose(identityGeometry(image, interpolation), rng));
    },
  };
}
