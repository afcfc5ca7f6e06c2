/** An image mirrored left-right. */
import { createRgbImage, type RgbImage } from '../rgb-image.js';

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
