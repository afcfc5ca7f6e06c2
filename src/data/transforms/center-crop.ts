/**
 * CenterCrop: torchvision's F.center_crop. Offsets use Python's round (ties to even); an image
 * smaller than the crop is first padded with zeros ((crop - size) // 2 on the left/top).
 */
import { ConfigError } from '../../errors.js';
import type { RandomSource } from '../../random.js';
import type { RgbImage } from '../rgb-image.js';
import { executeGeometry } from './execute-geometry.js';
import { geometrySize, identityGeometry, type Box, type Geometry, type Size } from './geometry.js';
import { roundHalfEven } from './round-half-even.js';
import type { GeometricTransform } from './transform.js';

/** The crop box in the image's coordinates; negative offsets / overhang mean zero padding. */
export function centerCropBox(image: Size, crop: Size): Box {
  let { width: w, height: h } = image;
  let padLeft = 0;
  let padTop = 0;
  if (crop.width > w || crop.height > h) {
    if (crop.width > w) {
      padLeft = Math.floor((crop.width - w) / 2);
      w = crop.width;
    }
    if (crop.height > h) {
      padTop = Math.floor((crop.height - h) / 2);
      h = crop.height;
    }
  }
  const top = Math.trunc(roundHalfEven((h - crop.height) / 2));
  const left = Math.trunc(roundHalfEven((w - crop.width) / 2));
  return { left: left - padLeft, top: top - padTop, width: crop.width, height: crop.height };
}

export function centerCrop(size: number | readonly [number, number]): GeometricTransform {
  const crop: Size = typeof size === 'number' ? { width: size, height: size } : { width: size[1], height: size[0] };
  if (!(Number.isInteger(crop.width) && crop.width > 0 && Number.isInteger(crop.height) && crop.height > 0)) {
    throw new ConfigError('E_BAD_OPTION', `centerCrop: size must be positive integers, got ${JSON.stringify(size)}`);
  }
  return {
    kind: 'geometric',
    name: `CenterCrop(${JSON.stringify(size)})`,
    outputSize: crop,
    spec: { op: 'centerCrop', size: typeof size === 'number' ? size : [...size] },
    // A crop after a flip would need the box mirrored (ties round differently): not fused.
    canCompose: (g: Geometry) => !g.flip,
    compose(g: Geometry): Geometry {
      const box = centerCropBox(geometrySize(g), crop);
      if (g.resize === null) {
        return { ...g, crop: { left: g.crop.left + box.left, top: g.crop.top + box.top, width: box.width, height: box.height } };
      }
      const base = g.post ?? { left: 0, top: 0 };
      return { ...g, post: { left: base.left + box.left, top: base.top + box.top, width: box.width, height: box.height } };
    },
    apply(image: RgbImage, rng: RandomSource): RgbImage {
      return executeGeometry(image, this.compose(identityGeometry(image), rng));
    },
  };
}
