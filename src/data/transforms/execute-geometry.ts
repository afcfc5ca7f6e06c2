/** Applying a geometry (crop, resize, flip) to a decoded image: the pure-JS reference path, with PIL's resampling. */
import { DataError } from '../../errors.js';
import type { RgbImage } from '../rgb-image.js';
import { cropWithPadding } from './crop.js';
import { flipHorizontal } from './flip-image.js';
import { boxInside, type Box, type Geometry, type Size } from './geometry.js';
import { resample } from './resample.js';

function isWhole(box: Box, size: Size): boolean {
  return box.left === 0 && box.top === 0 && box.width === size.width && box.height === size.height;
}

/** Pure reference: applies a geometry to a decoded image with PIL's resampling. */
export function executeGeometry(image: RgbImage, g: Geometry): RgbImage {
  if (image.width !== g.source.width || image.height !== g.source.height) {
    throw new DataError('E_INTERNAL', `executeGeometry: image is ${image.width}x${image.height}, geometry expects ${g.source.width}x${g.source.height} (a bug in headstart: please report it)`);
  }
  let out = isWhole(g.crop, g.source) ? image : cropWithPadding(image, g.crop);
  if (g.resize) {
    const post = g.post ?? { left: 0, top: 0, width: g.resize.width, height: g.resize.height };
    if (boxInside(post, g.resize)) {
      out = resample(out, g.resize, g.interpolation, post);
    } else {
      out = cropWithPadding(resample(out, g.resize, g.interpolation), post);
    }
  }
  return g.flip ? flipHorizontal(out) : out;
}
