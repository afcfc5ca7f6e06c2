import { DataError } from '../errors.js';

/**
 * The horizontally mirrored copy of an NCHW batch, for test-time augmentation. Mirroring
 * the normalised crop equals mirroring the image before Normalize (it is per-pixel), and
 * equals torchvision's hflip of the eval crop.
 */
export function flipBatchHorizontal(batch: Float32Array, width: number, out = new Float32Array(batch.length)): Float32Array {
  if (batch.length % width !== 0) throw new DataError('E_INTERNAL', `flipBatchHorizontal: ${batch.length} values are not rows of width ${width} (a bug in headstart: please report it)`);
  for (let row = 0; row < batch.length; row += width) {
    for (let x = 0, end = row + width - 1; x < width; x++) out[row + x] = batch[end - x];
  }
  return out;
}
