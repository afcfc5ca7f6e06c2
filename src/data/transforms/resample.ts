/**
 * Pillow's resampler (Resample.c, 8 bits per channel), ported exactly: the same antialiased
 * filter support, the same coefficients rounded to 22-bit fixed point, a horizontal pass
 * rounded to 8 bits, then a vertical pass. torchvision resizes PIL images with it, so a
 * resize here gives the same bytes as `img.resize(size, BILINEAR | BICUBIC)`.
 *
 * `window` computes only a box of the output (e.g. the centre crop that follows a resize);
 * every output pixel depends only on its own coefficients, so the window is exact too.
 */
import { DataError } from '../../errors.js';
import type { Interpolation } from '../preprocess.js';
import { createRgbImage, type RgbImage } from '../rgb-image.js';
import type { Box, Size } from './geometry.js';
import { normalizeRow } from './normalize.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const CLIP_HIGH = 2 ** (PRECISION_BITS + 8);

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function bicubicFilter(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

const FILTERS: Record<Interpolation, { fn: (x: number) => number; support: number }> = {
  bilinear: { fn: bilinearFilter, support: 1 },
  bicubic: { fn: bicubicFilter, support: 2 },
};

interface Coefficients {
  ksize: number;
  /** Per output pixel: first input index and tap count. */
  bounds: Int32Array;
  /** Per output pixel: ksize fixed-point weights. */
  kk: Int32Array;
}

/** precompute_coeffs + normalize_coeffs_8bpc; [in0, in1) is the source span (PIL's `box`). */
function coefficients(inSize: number, outSize: number, interpolation: Interpolation, in0 = 0, in1 = inSize): Coefficients {
  const filter = FILTERS[interpolation];
  const scale = (in1 - in0) / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const pre = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      pre[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      let v = x < xmax ? pre[x] : 0;
      if (x < xmax && ww !== 0) v /= ww;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/**
 * The coefficients of whole-span resizes, by input size, output size and interpolation: a
 * dataset's images mostly share a few sizes, so the eval transform computes them once.
 */
const cached = new Map<string, Coefficients>();
function cachedCoefficients(inSize: number, outSize: number, interpolation: Interpolation): Coefficients {
  const key = `${inSize} ${outSize} ${interpolation}`;
  let c = cached.get(key);
  if (!c) {
    if (cached.size >= 64) cached.clear();
    c = coefficients(inSize, outSize, interpolation);
    cached.set(key, c);
  }
  return c;
}

/**
 * Horizontal pass over `rows` rows starting at `row0`, for output columns [x0, x0 + w);
 * `col0` is the source column that column 0 of `src` holds (src is then a part of the source).
 */
function horizontal(src: RgbImage, row0: number, rows: number, c: Coefficients, x0: number, w: number, into?: Uint8Array, col0 = 0): RgbImage {
  const out = createRgbImage(w, rows, into);
  const o = out.data;
  const s = src.data;
  const { ksize, bounds, kk } = c;
  const inStride = src.width * 3;
  const outStride = w * 3;
  const base = row0 * inStride;
  // Column by column: an output column's taps and weights stay in registers over all its rows,
  // and the branch on the tap count is taken once per column, not once per pixel.
  for (let xx = x0; xx < x0 + w; xx++) {
    const xmax = bounds[xx * 2 + 1];
    const kb = xx * ksize;
    const q0 = base + (bounds[xx * 2] - col0) * 3;
    const p0 = (xx - x0) * 3;
    // 2-4 taps (upscaling, downscaling by up to ~1.5x bilinear) unrolled; sums start at HALF
    // and stay below 2^31 in magnitude (8-bit input, 22-bit weights), so they are exact.
    if (xmax === 2) {
      const k0 = kk[kb],
        k1 = kk[kb + 1];
      for (let y = 0, q = q0, p = p0; y < rows; y++, q += inStride, p += outStride) {
        const s0 = HALF + s[q] * k0 + s[q + 3] * k1;
        const s1 = HALF + s[q + 1] * k0 + s[q + 4] * k1;
        const s2 = HALF + s[q + 2] * k0 + s[q + 5] * k1;
        o[p] = s0 <= 0 ? 0 : s0 >= CLIP_HIGH ? 255 : s0 >> PRECISION_BITS;
        o[p + 1] = s1 <= 0 ? 0 : s1 >= CLIP_HIGH ? 255 : s1 >> PRECISION_BITS;
        o[p + 2] = s2 <= 0 ? 0 : s2 >= CLIP_HIGH ? 255 : s2 >> PRECISION_BITS;
      }
    } else if (xmax === 3) {
      const k0 = kk[kb],
        k1 = kk[kb + 1],
        k2 = kk[kb + 2];
      for (let y = 0, q = q0, p = p0; y < rows; y++, q += inStride, p += outStride) {
        const s0 = HALF + s[q] * k0 + s[q + 3] * k1 + s[q + 6] * k2;
        const s1 = HALF + s[q + 1] * k0 + s[q + 4] * k1 + s[q + 7] * k2;
        const s2 = HALF + s[q + 2] * k0 + s[q + 5] * k1 + s[q + 8] * k2;
        o[p] = s0 <= 0 ? 0 : s0 >= CLIP_HIGH ? 255 : s0 >> PRECISION_BITS;
        o[p + 1] = s1 <= 0 ? 0 : s1 >= CLIP_HIGH ? 255 : s1 >> PRECISION_BITS;
        o[p + 2] = s2 <= 0 ? 0 : s2 >= CLIP_HIGH ? 255 : s2 >> PRECISION_BITS;
      }
    } else if (xmax === 4) {
      const k0 = kk[kb],
        k1 = kk[kb + 1],
        k2 = kk[kb + 2],
        k3 = kk[kb + 3];
      for (let y = 0, q = q0, p = p0; y < rows; y++, q += inStride, p += outStride) {
        const s0 = HALF + s[q] * k0 + s[q + 3] * k1 + s[q + 6] * k2 + s[q + 9] * k3;
        const s1 = HALF + s[q + 1] * k0 + s[q + 4] * k1 + s[q + 7] * k2 + s[q + 10] * k3;
        const s2 = HALF + s[q + 2] * k0 + s[q + 5] * k1 + s[q + 8] * k2 + s[q + 11] * k3;
        o[p] = s0 <= 0 ? 0 : s0 >= CLIP_HIGH ? 255 : s0 >> PRECISION_BITS;
        o[p + 1] = s1 <= 0 ? 0 : s1 >= CLIP_HIGH ? 255 : s1 >> PRECISION_BITS;
        o[p + 2] = s2 <= 0 ? 0 : s2 >= CLIP_HIGH ? 255 : s2 >> PRECISION_BITS;
      }
    } else if (xmax === 5 || xmax === 6) {
      // Bicubic downscaling by up to ~1.5x (EfficientNet's eval transform); a 5th tap's
      // sixth weight is 0 and its pixel is read only where it exists.
      const k0 = kk[kb],
        k1 = kk[kb + 1],
        k2 = kk[kb + 2],
        k3 = kk[kb + 3],
        k4 = kk[kb + 4],
        k5 = xmax === 6 ? kk[kb + 5] : 0,
        d5 = xmax === 6 ? 15 : 12;
      for (let y = 0, q = q0, p = p0; y < rows; y++, q += inStride, p += outStride) {
        const s0 = HALF + s[q] * k0 + s[q + 3] * k1 + s[q + 6] * k2 + s[q + 9] * k3 + s[q + 12] * k4 + s[q + d5] * k5;
        const s1 = HALF + s[q + 1] * k0 + s[q + 4] * k1 + s[q + 7] * k2 + s[q + 10] * k3 + s[q + 13] * k4 + s[q + d5 + 1] * k5;
        const s2 = HALF + s[q + 2] * k0 + s[q + 5] * k1 + s[q + 8] * k2 + s[q + 11] * k3 + s[q + 14] * k4 + s[q + d5 + 2] * k5;
        o[p] = s0 <= 0 ? 0 : s0 >= CLIP_HIGH ? 255 : s0 >> PRECISION_BITS;
        o[p + 1] = s1 <= 0 ? 0 : s1 >= CLIP_HIGH ? 255 : s1 >> PRECISION_BITS;
        o[p + 2] = s2 <= 0 ? 0 : s2 >= CLIP_HIGH ? 255 : s2 >> PRECISION_BITS;
      }
    } else {
      for (let y = 0, r = q0, p = p0; y < rows; y++, r += inStride, p += outStride) {
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        for (let x = 0, q = r; x < xmax; x++, q += 3) {
          const k = kk[kb + x];
          s0 = (s0 + Math.imul(s[q], k)) | 0;
          s1 = (s1 + Math.imul(s[q + 1], k)) | 0;
          s2 = (s2 + Math.imul(s[q + 2], k)) | 0;
        }
        o[p] = s0 <= 0 ? 0 : s0 >= CLIP_HIGH ? 255 : s0 >> PRECISION_BITS;
        o[p + 1] = s1 <= 0 ? 0 : s1 >= CLIP_HIGH ? 255 : s1 >> PRECISION_BITS;
        o[p + 2] = s2 <= 0 ? 0 : s2 >= CLIP_HIGH ? 255 : s2 >> PRECISION_BITS;
      }
    }
  }
  return out;
}

/** The non-zero taps of output row `yy` (rows as byte offsets into the source); returns their count. */
function taps(c: Coefficients, yy: number, rowOffset: number, stride: number, rows: Int32Array, ks: Int32Array): number {
  const { ksize, bounds, kk } = c;
  const ymin = bounds[yy * 2] - rowOffset;
  const ymax = bounds[yy * 2 + 1];
  const kb = yy * ksize;
  let n = 0;
  for (let y = 0; y < ymax; y++) {
    const k = kk[kb + y];
    if (k !== 0) {
      rows[n] = (ymin + y) * stride;
      ks[n++] = k;
    }
  }
  return n;
}

/**
 * One output row of the vertical pass: `n` taps (byte offsets `rows`, weights `ks`) over
 * `stride` bytes of `s`, written to `o` at `p`. Loops specialised to 1-4 taps cover
 * upscaling and mild downscaling (4 taps: the eval transform's 1.5x), the common cases; `acc` is scratch for more.
 */
function verticalRow(s: Uint8Array, stride: number, rows: Int32Array, ks: Int32Array, n: number, o: Uint8Array, p: number, acc: Int32Array): void {
  if (n === 1) {
    const r0 = rows[0],
      k0 = ks[0];
    for (let x = 0; x < stride; x++) {
      const v = HALF + s[r0 + x] * k0;
      o[p++] = v <= 0 ? 0 : v >= CLIP_HIGH ? 255 : v >> PRECISION_BITS;
    }
  } else if (n === 2) {
    const r0 = rows[0],
      k0 = ks[0],
      r1 = rows[1],
      k1 = ks[1];
    for (let x = 0; x < stride; x++) {
      const v = HALF + s[r0 + x] * k0 + s[r1 + x] * k1;
      o[p++] = v <= 0 ? 0 : v >= CLIP_HIGH ? 255 : v >> PRECISION_BITS;
    }
  } else if (n === 3) {
    const r0 = rows[0],
      k0 = ks[0],
      r1 = rows[1],
      k1 = ks[1],
      r2 = rows[2],
      k2 = ks[2];
    for (let x = 0; x < stride; x++) {
      const v = HALF + s[r0 + x] * k0 + s[r1 + x] * k1 + s[r2 + x] * k2;
      o[p++] = v <= 0 ? 0 : v >= CLIP_HIGH ? 255 : v >> PRECISION_BITS;
    }
  } else if (n === 4) {
    const r0 = rows[0],
      k0 = ks[0],
      r1 = rows[1],
      k1 = ks[1],
      r2 = rows[2],
      k2 = ks[2],
      r3 = rows[3],
      k3 = ks[3];
    for (let x = 0; x < stride; x++) {
      const v = HALF + s[r0 + x] * k0 + s[r1 + x] * k1 + s[r2 + x] * k2 + s[r3 + x] * k3;
      o[p++] = v <= 0 ? 0 : v >= CLIP_HIGH ? 255 : v >> PRECISION_BITS;
    }
  } else {
    // Row-major accumulation; int32 is exact: |sum| < 2^31 for 8-bit input and 22-bit weights.
    acc.fill(HALF, 0, stride);
    for (let t = 0; t < n; t++) {
      const row = rows[t],
        k = ks[t];
      for (let x = 0; x < stride; x++) acc[x] = (acc[x] + Math.imul(s[row + x], k)) | 0;
    }
    for (let x = 0; x < stride; x++) {
      const v = acc[x];
      o[p++] = v <= 0 ? 0 : v >= CLIP_HIGH ? 255 : v >> PRECISION_BITS;
    }
  }
}

/** Vertical pass: output rows [y0, y0 + h); `rowOffset` is the first source row `src` holds. */
function vertical(src: RgbImage, rowOffset: number, c: Coefficients, y0: number, h: number): RgbImage {
  const out = createRgbImage(src.width, h);
  const stride = src.width * 3;
  const rows = new Int32Array(c.ksize);
  const ks = new Int32Array(c.ksize);
  const acc = new Int32Array(stride);
  for (let yy = y0; yy < y0 + h; yy++) {
    const n = taps(c, yy, rowOffset, stride, rows, ks);
    verticalRow(src.data, stride, rows, ks, n, out.data, (yy - y0) * stride, acc);
  }
  return out;
}

function copyWindow(image: RgbImage, w: Box): RgbImage {
  const out = createRgbImage(w.width, w.height);
  for (let y = 0; y < w.height; y++) {
    const src = ((y + w.top) * image.width + w.left) * 3;
    out.data.set(image.data.subarray(src, src + w.width * 3), y * w.width * 3);
  }
  return out;
}

/**
 * Resizes `image` to `size` as PIL's Image.resize does; returns only `window` of the result
 * (default: all of it). The window must lie inside `size`.
 */
export function resample(image: RgbImage, size: Size, interpolation: Interpolation, window?: Box): RgbImage {
  const win = window ?? { left: 0, top: 0, width: size.width, height: size.height };
  if (win.left < 0 || win.top < 0 || win.left + win.width > size.width || win.top + win.height > size.height) {
    throw new DataError('E_INTERNAL', `resample: window ${JSON.stringify(win)} leaves the ${size.width}x${size.height} output (a bug in headstart: please report it)`);
  }
  const needH = size.width !== image.width;
  const needV = size.height !== image.height;
  if (!needH && !needV) return copyWindow(image, win);
  if (!needV) {
    return horizontal(image, win.top, win.height, coefficients(image.width, size.width, interpolation), win.left, win.width);
  }
  const cv = coefficients(image.height, size.height, interpolation);
  if (!needH) {
    const cols = copyWindow(image, { left: win.left, top: 0, width: win.width, height: image.height });
    return vertical(cols, 0, cv, win.top, win.height);
  }
  const first = cv.bounds[win.top * 2];
  const lastRow = win.top + win.height - 1;
  const last = cv.bounds[lastRow * 2] + cv.bounds[lastRow * 2 + 1];
  const tmp = horizontal(image, first, last - first, coefficients(image.width, size.width, interpolation), win.left, win.width);
  return vertical(tmp, first, cv, win.top, win.height);
}

/**
 * The part of a source image the resampler reads for `window` of a resize of the whole
 * `source` to `size` (the columns of the horizontal taps, the rows of the vertical ones),
 * so a decoder can hand over just that box (see `resampleRegionNormalized`).
 */
export function resampleInputBox(source: Size, size: Size, interpolation: Interpolation, window: Box): Box {
  const span = (inSize: number, outSize: number, start: number, length: number): [number, number] => {
    if (inSize === outSize) return [start, start + length];
    const { bounds } = cachedCoefficients(inSize, outSize, interpolation);
    let lo = inSize;
    let hi = 0;
    for (let i = start; i < start + length; i++) {
      lo = Math.min(lo, bounds[i * 2]);
      hi = Math.max(hi, bounds[i * 2] + bounds[i * 2 + 1]);
    }
    return [lo, hi];
  };
  const [left, right] = span(source.width, size.width, window.left, window.width);
  const [top, bottom] = span(source.height, size.height, window.top, window.height);
  return { left, top, width: right - left, height: bottom - top };
}

/**
 * `resampleNormalized` of a whole source of size `source`, given only the part of it that
 * `resampleInputBox` names (`part` holds the source pixels of `box`): the same coefficients
 * and the same bytes as resampling the whole source, then normalised into `out` at `offset`
 * (CHW, mirrored if `flip`). Without `into`, returns the 8-bit window instead.
 */
export function resampleRegionNormalized(part: RgbImage, box: Box, source: Size, size: Size, interpolation: Interpolation, window: Box, into?: RegionTarget): RgbImage | null {
  if (window.left < 0 || window.top < 0 || window.left + window.width > size.width || window.top + window.height > size.height) {
    throw new DataError('E_INTERNAL', `resampleRegionNormalized: window ${JSON.stringify(window)} leaves the ${size.width}x${size.height} output (a bug in headstart: please report it)`);
  }
  const need = resampleInputBox(source, size, interpolation, window);
  if (
    part.width !== box.width ||
    part.height !== box.height ||
    need.left < box.left ||
    need.top < box.top ||
    need.left + need.width > box.left + box.width ||
    need.top + need.height > box.top + box.height
  ) {
    throw new DataError(
      'E_INTERNAL',
      `resampleRegionNormalized: the part ${JSON.stringify(box)} (${part.width}x${part.height}) does not hold the pixels ${JSON.stringify(need)} (a bug in headstart: please report it)`,
    );
  }
  const w = window.width;
  const stride = w * 3;
  const plane = w * window.height;
  if (into && into.offset + 3 * plane > into.out.length) {
    throw new DataError('E_INTERNAL', `resampleRegionNormalized: ${3 * plane} values at ${into.offset} overflow a buffer of ${into.out.length} (a bug in headstart: please report it)`);
  }
  const result = into ? null : createRgbImage(w, window.height);
  const emit = (row: Uint8Array, p: number, y: number) => {
    if (into) normalizeRow(row, p, w, into.table, into.out, into.offset + y * w, into.offset + plane + y * w, into.offset + 2 * plane + y * w, into.flip);
    else result!.data.set(row.subarray(p, p + stride), y * stride);
  };
  const needH = size.width !== source.width;
  if (size.height === source.height) {
    // No vertical pass: the rows of the horizontal pass (or of the part) are the output.
    const rowsOf = needH
      ? horizontal(part, window.top - box.top, window.height, cachedCoefficients(source.width, size.width, interpolation), window.left, w, scratchBytes(stride * window.height), box.left)
      : copyWindow(part, { left: window.left - box.left, top: window.top - box.top, width: w, height: window.height });
    for (let y = 0; y < window.height; y++) emit(rowsOf.data, y * stride, y);
    return result;
  }
  const cv = cachedCoefficients(source.height, size.height, interpolation);
  const first = cv.bounds[window.top * 2];
  const lastRow = window.top + window.height - 1;
  const last = cv.bounds[lastRow * 2] + cv.bounds[lastRow * 2 + 1];
  const tmp = needH
    ? horizontal(part, first - box.top, last - first, cachedCoefficients(source.width, size.width, interpolation), window.left, w, scratchBytes(stride * (last - first)), box.left)
    : copyWindow(part, { left: window.left - box.left, top: first - box.top, width: w, height: last - first });
  const rows = new Int32Array(cv.ksize);
  const ks = new Int32Array(cv.ksize);
  const acc = new Int32Array(stride);
  const row = new Uint8Array(stride);
  for (let y = 0; y < window.height; y++) {
    const n = taps(cv, window.top + y, first, stride, rows, ks);
    if (into) {
      const r = into.offset + y * w;
      verticalRowNormalized(tmp.data, w, rows, ks, n, into.table, into.out, r, r + plane, r + 2 * plane, into.flip, row, acc);
    } else {
      verticalRow(tmp.data, stride, rows, ks, n, row, 0, acc);
      emit(row, 0, y);
    }
  }
  return result;
}

/** Where `resampleRegionNormalized` writes: normalised CHW floats (see normalizationTable) at `offset`, mirrored if `flip`. */
export interface RegionTarget {
  table: Float32Array;
  out: Float32Array;
  offset: number;
  flip: boolean;
}

/** A source region with fractional edges, as PIL's `Image.resize(size, box=...)` takes it. */
export interface SourceBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * Resizes the region `box` of `image` to `size` as PIL's `Image.resize(size, resample, box)`
 * does (the region's edges may fall between pixels; taps outside the image are clamped).
 */
export function resampleBox(image: RgbImage, box: SourceBox, size: Size, interpolation: Interpolation): RgbImage {
  const ch = coefficients(image.width, size.width, interpolation, box.x0, box.x1);
  const cv = coefficients(image.height, size.height, interpolation, box.y0, box.y1);
  const first = cv.bounds[0];
  const last = cv.bounds[(size.height - 1) * 2] + cv.bounds[(size.height - 1) * 2 + 1];
  const tmp = horizontal(image, first, last - first, ch, 0, size.width);
  return vertical(tmp, first, cv, 0, size.height);
}

/** Scratch for the fused path (one resize at a time per thread: the calls are synchronous). */
let scratch = new Uint8Array(0);
function scratchBytes(n: number): Uint8Array {
  if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
  return scratch.subarray(0, n);
}

/**
 * `resample` fused with ToTensor + Normalize: the same bytes, each output row normalised
 * through `table` (see normalizationTable) into CHW planes of `out` at `offset` (mirrored if
 * `flip`) as soon as the vertical pass makes it, so no output image is made.
 */
export function resampleNormalized(image: RgbImage, size: Size, interpolation: Interpolation, window: Box | undefined, table: Float32Array, out: Float32Array, offset: number, flip: boolean): void {
  const win = window ?? { left: 0, top: 0, width: size.width, height: size.height };
  if (win.left < 0 || win.top < 0 || win.left + win.width > size.width || win.top + win.height > size.height) {
    throw new DataError('E_INTERNAL', `resampleNormalized: window ${JSON.stringify(win)} leaves the ${size.width}x${size.height} output (a bug in headstart: please report it)`);
  }
  const plane = win.width * win.height;
  if (offset + 3 * plane > out.length)
    throw new DataError('E_INTERNAL', `resampleNormalized: ${3 * plane} values at ${offset} overflow a buffer of ${out.length} (a bug in headstart: please report it)`);
  const w = win.width;
  const stride = w * 3;
  if (size.height === image.height) {
    // No vertical pass: the rows of the horizontal pass (or of the image) are the output.
    const rowsOf =
      size.width === image.width
        ? copyWindow(image, win)
        : horizontal(image, win.top, win.height, coefficients(image.width, size.width, interpolation), win.left, w, scratchBytes(stride * win.height));
    for (let y = 0; y < win.height; y++) normalizeRow(rowsOf.data, y * stride, w, table, out, offset + y * w, offset + plane + y * w, offset + 2 * plane + y * w, flip);
    return;
  }
  const cv = coefficients(image.height, size.height, interpolation);
  const first = cv.bounds[win.top * 2];
  const lastRow = win.top + win.height - 1;
  const last = cv.bounds[lastRow * 2] + cv.bounds[lastRow * 2 + 1];
  const tmp =
    size.width === image.width
      ? copyWindow(image, { left: win.left, top: first, width: w, height: last - first })
      : horizontal(image, first, last - first, coefficients(image.width, size.width, interpolation), win.left, w, scratchBytes(stride * (last - first)));
  const rows = new Int32Array(cv.ksize);
  const ks = new Int32Array(cv.ksize);
  const acc = new Int32Array(stride);
  const row = new Uint8Array(stride);
  for (let y = 0; y < win.height; y++) {
    const n = taps(cv, win.top + y, first, stride, rows, ks);
    verticalRowNormalized(tmp.data, w, rows, ks, n, table, out, offset + y * w, offset + plane + y * w, offset + 2 * plane + y * w, flip, row, acc);
  }
}

/**
 * One output row of the vertical pass (`w` pixels) fused with normalisation: each byte is
 * rounded and clipped as in `verticalRow`, looked up in `table` and written to the planes at
 * r, g, b (mirrored if `flip`), with no 8-bit row in between. 2-4 taps run as 4 and 5-6 as 6
 * (the missing ones with weight 0, so the sums are unchanged); other counts go through `verticalRow`.
 */
function verticalRowNormalized(
  s: Uint8Array,
  w: number,
  rows: Int32Array,
  ks: Int32Array,
  n: number,
  table: Float32Array,
  out: Float32Array,
  r: number,
  g: number,
  b: number,
  flip: boolean,
  row: Uint8Array,
  acc: Int32Array,
): void {
  if (n < 2 || n > 6) {
    verticalRow(s, w * 3, rows, ks, n, row, 0, acc);
    normalizeRow(row, 0, w, table, out, r, g, b, flip);
    return;
  }
  if (n > 4) {
    verticalRowNormalized6(s, w, rows, ks, n, table, out, r, g, b, flip);
    return;
  }
  const r0 = rows[0],
    k0 = ks[0],
    r1 = rows[1],
    k1 = ks[1],
    r2 = n > 2 ? rows[2] : r0,
    k2 = n > 2 ? ks[2] : 0,
    r3 = n > 3 ? rows[3] : r0,
    k3 = n > 3 ? ks[3] : 0;
  const step = flip ? -1 : 1;
  for (let x = 0, q = 0, d = flip ? w - 1 : 0; x < w; x++, q += 3, d += step) {
    const v0 = HALF + s[r0 + q] * k0 + s[r1 + q] * k1 + s[r2 + q] * k2 + s[r3 + q] * k3;
    const v1 = HALF + s[r0 + q + 1] * k0 + s[r1 + q + 1] * k1 + s[r2 + q + 1] * k2 + s[r3 + q + 1] * k3;
    const v2 = HALF + s[r0 + q + 2] * k0 + s[r1 + q + 2] * k1 + s[r2 + q + 2] * k2 + s[r3 + q + 2] * k3;
    out[r + d] = table[v0 <= 0 ? 0 : v0 >= CLIP_HIGH ? 255 : v0 >> PRECISION_BITS];
    out[g + d] = table[256 + (v1 <= 0 ? 0 : v1 >= CLIP_HIGH ? 255 : v1 >> PRECISION_BITS)];
    out[b + d] = table[512 + (v2 <= 0 ? 0 : v2 >= CLIP_HIGH ? 255 : v2 >> PRECISION_BITS)];
  }
}

/** `verticalRowNormalized` for 5 or 6 taps (bicubic downscaling by up to ~1.5x), run as 6. */
function verticalRowNormalized6(s: Uint8Array, w: number, rows: Int32Array, ks: Int32Array, n: number, table: Float32Array, out: Float32Array, r: number, g: number, b: number, flip: boolean): void {
  const r0 = rows[0],
    k0 = ks[0],
    r1 = rows[1],
    k1 = ks[1],
    r2 = rows[2],
    k2 = ks[2],
    r3 = rows[3],
    k3 = ks[3],
    r4 = rows[4],
    k4 = ks[4],
    r5 = n > 5 ? rows[5] : r0,
    k5 = n > 5 ? ks[5] : 0;
  const step = flip ? -1 : 1;
  for (let x = 0, q = 0, d = flip ? w - 1 : 0; x < w; x++, q += 3, d += step) {
    const v0 = HALF + s[r0 + q] * k0 + s[r1 + q] * k1 + s[r2 + q] * k2 + s[r3 + q] * k3 + s[r4 + q] * k4 + s[r5 + q] * k5;
    const v1 = HALF + s[r0 + q + 1] * k0 + s[r1 + q + 1] * k1 + s[r2 + q + 1] * k2 + s[r3 + q + 1] * k3 + s[r4 + q + 1] * k4 + s[r5 + q + 1] * k5;
    const v2 = HALF + s[r0 + q + 2] * k0 + s[r1 + q + 2] * k1 + s[r2 + q + 2] * k2 + s[r3 + q + 2] * k3 + s[r4 + q + 2] * k4 + s[r5 + q + 2] * k5;
    out[r + d] = table[v0 <= 0 ? 0 : v0 >= CLIP_HIGH ? 255 : v0 >> PRECISION_BITS];
    out[g + d] = table[256 + (v1 <= 0 ? 0 : v1 >= CLIP_HIGH ? 255 : v1 >> PRECISION_BITS)];
    out[b + d] = table[512 + (v2 <= 0 ? 0 : v2 >= CLIP_HIGH ? 255 : v2 >> PRECISION_BITS)];
  }
}
