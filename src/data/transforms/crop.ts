/** Crops a box out of an image; where the box leaves the image the pixels are 0 (torchvision pads with 0). */
import { createRgbImage, type RgbImage } from '../rgb-image.js';
import type { Box } from './geometry.js';

export function cropWithPadding(image: RgbImage, box: Box): RgbImage {
  const out = createRgbImage(box.width, box.height);
  const x0 = Math.max(0, box.left);
  const x1 = Math.min(image.width, box.left + box.width);
  const y0 = Math.max(0, box.top);
  const y1 = Math.min(image.height, box.top + box.height);
  if (x1 <= x0 || y1 <= y0) return out;
  const rowBytes = (x1 - x0) * 3;
  for (let y = y0; y < y1; y++) {
    const src = (y * image.width + x0) * 3;
    const dst = ((y - box.top) * box.width + (x0 - box.left)) * 3;
    out.data.set(image.data.subarray(src, src + rowBytes), dst);
  }
  return out;
}
