import { DataError } from '../errors.js';

/** A decoded 8-bit RGB image, rows top to bottom, pixels interleaved (HWC), as PIL holds "RGB". */
export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes. */
  data: Uint8Array;
}

export function createRgbImage(width: number, height: number, data?: Uint8Array): RgbImage {
  const n = width * height * 3;
  if (data && data.length !== n) {
    throw new DataError('E_INTERNAL', `RgbImage ${width}x${height} needs ${n} bytes, got ${data.length} (a bug in headstart: please report it)`);
  }
  return { width, height, data: data ?? new Uint8Array(n) };
}
