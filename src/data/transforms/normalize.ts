/**
 * ToTensor + Normalize: 8-bit HWC in, normalised float32 CHW out, written straight into a
 * batch buffer. The arithmetic is torch's float32 sequence (x / 255, then - mean, then / std),
 * precomputed for all 256 byte values per channel, so the result equals torchvision's bit for bit.
 */
import { DataError } from '../../errors.js';
import type { RgbImage } from '../rgb-image.js';

export type Rgb = readonly [number, number, number];

/** 3 x 256 lookup table: value of byte v in channel c at [c * 256 + v]. */
export function normalizationTable(mean: Rgb, std: Rgb): Float32Array {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    for (let v = 0; v < 256; v++) {
      const x = Math.fround(v / 255);
      t[c * 256 + v] = Math.fround(Math.fround(x - m) / s);
    }
  }
  return t;
}

/**
 * Writes `image` as CHW into `out` starting at `offset` (3 * width * height values),
 * mirrored left-right when `flip` is set.
 */
export function writeNormalized(image: RgbImage, table: Float32Array, out: Float32Array, offset = 0, flip = false): void {
  const { width, height, data } = image;
  const plane = width * height;
  if (offset + 3 * plane > out.length) throw new DataError('E_INTERNAL', `writeNormalized: ${3 * plane} values at ${offset} overflow a buffer of ${out.length} (a bug in headstart: please report it)`);
  for (let y = 0; y < height; y++) normalizeRow(data, y * width * 3, width, table, out, offset + y * width, offset + plane + y * width, offset + 2 * plane + y * width, flip);
}

/** One row of 8-bit pixels as normalised floats into three planes (at r, g, b), mirrored if `flip`. */
export function normalizeRow(o: Uint8Array, p: number, w: number, table: Float32Array, out: Float32Array, r: number, g: number, b: number, flip: boolean): void {
  if (flip) {
    for (let x = w - 1, q = p + x * 3; x >= 0; x--, q -= 3) {
      out[r++] = table[o[q]];
      out[g++] = table[256 + o[q + 1]];
      out[b++] = table[512 + o[q + 2]];
    }
  } else {
    for (let q = p, end = p + w * 3; q < end; q += 3) {
      out[r++] = table[o[q]];
      out[g++] = table[256 + o[q + 1]];
      out[b++] = table[512 + o[q + 2]];
    }
  }
}

/**
 * The fused pass of the fast training path: 8-bit HWC pixels (rows of `width` pixels) read
 * through a row and a column map (the crop window, edge clamping and the flip all live in
 * the maps), written as normalised CHW into `out` at `offset`: one read of each source byte,
 * one write of each float.
 */
export function writeNormalizedMapped(data: Uint8Array, width: number, rows: Int32Array, cols: Int32Array, table: Float32Array, out: Float32Array, offset = 0): void {
  const w = cols.length;
  const h = rows.length;
  const plane = w * h;
  if (offset + 3 * plane > out.length) throw new RangeError(`writeNormalizedMapped: ${3 * plane} values at ${offset} overflow a buffer of ${out.length}`);
  const col3 = new Int32Array(w);
  for (let x = 0; x < w; x++) col3[x] = cols[x] * 3;
  let r = offset;
  for (let y = 0; y < h; y++) {
    const row = rows[y] * width * 3;
    const g = r + plane;
    const b = r + 2 * plane;
    for (let x = 0; x < w; x++) {
      const p = row + col3[x];
      out[r + x] = table[data[p]];
      out[g + x] = table[256 + data[p + 1]];
      out[b + x] = table[512 + data[p + 2]];
    }
    r += w;
  }
}
