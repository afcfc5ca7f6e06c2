/**
 * The training transform's fast path: libvips does the whole crop + resize natively, in one
 * call per image, with its own kernels in both directions, and the result is handed over as
 * 8-bit pixels plus a row and a column map that the fused normalisation pass reads through
 * (see `writeNormalizedMapped`; the flip is the column map reversed), so no intermediate
 * image is made in JS.
 *
 * Per axis, with s = output / crop:
 * - s < 1 (downscale): libvips' antialiased reduce (the kernel family of PIL's; ~0.001 apart
 *   on [0, 1], mean per pixel);
 * - s > 1 (upscale): libvips' affine with its bilinear / bicubic interpolator, sampled at
 *   PIL's pixel centres ((x + 0.5) / s - 0.5), which equals PIL in the interior; the few
 *   output columns (rows) whose sample would read past the crop's edge are clamped to the
 *   nearest one that does not, as PIL clamps its taps there;
 * - JPEG shrink-on-load: when both axes shrink by 6x or more (crops of 1344+ pixels for a
 *   224 output), libvips decodes the JPEG at 1/2, 1/4 or 1/8 scale (DCT-domain, much less
 *   work than a full decode) and reduces it to twice the output scale; PIL's resampler in JS
 *   takes the crop's exact (fractional) box from there to the output. Costs 0.002-0.006 mean
 *   on photos, 0.007-0.019 on 8-pixel checkerboards (tested: <= 0.01 and <= 0.03); it only
 *   runs where a full decode would cost far more.
 *
 * The result differs from torchvision's PIL path by a stated tolerance (see the tests in
 * test/data-fast-augment.test.ts); `exactAugment` keeps the PIL-exact JS path instead.
 */
import sharp from 'sharp';
import { decodeError, finishRgb, openImage, type ImageInput } from './decode.js';
import type { Box, Geometry, Size } from './transforms/geometry.js';
import { boxInside } from './transforms/geometry.js';
import { resampleBox } from './transforms/resample.js';
import { createRgbImage } from './rgb-image.js';

/** 8-bit HWC pixels and, per output row and column, the pixel to read (unflipped: reverse `cols` to mirror). */
export interface MappedPixels {
  data: Uint8Array;
  /** Row length of `data` in pixels. */
  width: number;
  rows: Int32Array;
  cols: Int32Array;
}

/** Whether the fast path handles this geometry: one resize of a crop inside the image, no crop after it. */
export function canDecodeAugmented(g: Geometry): boolean {
  return g.resize !== null && g.post === null && boxInside(g.crop, g.source);
}

/** The JPEG shrink-on-load factor libvips will use for a reduce by `shrink` (sharp's rule, fastShrinkOnLoad). */
export function jpegShrinkOnLoad(shrink: number): number {
  let k = shrink >= 8 ? 8 : shrink >= 4 ? 4 : shrink >= 2 ? 2 : 1;
  if (k > 1 && Math.trunc(shrink) === k) k /= 2;
  return k;
}

/**
 * Whether `decodeAugmented` decodes this geometry with JPEG shrink-on-load: a JPEG without
 * EXIF rotation, both axes shrunk enough that libvips can decode at 1/2 or less of the
 * intermediate (twice the output) scale. Requires canDecodeAugmented(g).
 */
export function usesShrinkOnLoad(g: Geometry, format: string, orientation: number): boolean {
  const out = g.resize as Size;
  const sx = out.width / g.crop.width;
  const sy = out.height / g.crop.height;
  return format === 'jpeg' && orientation === 1 && sx < 1 && sy < 1 && jpegShrinkOnLoad(Math.min(1 / sx, 1 / sy) / 2) > 1;
}

/**
 * For an upscaled axis: the output index each of `n` outputs reads, identity where the
 * interpolator's taps stay inside the `inLength` input pixels, else clamped to the nearest
 * output whose taps do (PIL clamps its taps to the crop there).
 */
function upscaleMap(n: number, scale: number, inLength: number, reach: number, available: number): Int32Array {
  const map = new Int32Array(n);
  let first = -1;
  let last = -1;
  for (let i = 0; i < n; i++) {
    const x = (i + 0.5) / scale - 0.5;
    const f = Math.floor(x);
    // Exactly on a pixel the interpolator reads only that pixel.
    const lo = x === f ? f : f - (reach - 1);
    const hi = x === f ? f : f + reach;
    if (lo >= 0 && hi <= inLength - 1 && i < available) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) {
    // Degenerate (a 1-pixel crop, say): every output is the nearest input.
    first = 0;
    last = Math.min(n, available) - 1;
  }
  for (let i = 0; i < n; i++) map[i] = i < first ? first : i > last ? last : i;
  return map;
}

function identityMap(n: number, offset = 0): Int32Array {
  const map = new Int32Array(n);
  for (let i = 0; i < n; i++) map[i] = offset + i;
  return map;
}

function pixelsOf(data: Buffer): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/**
 * Decodes `bytes` and applies `g`'s crop and resize (not its flip: the caller reverses the
 * column map) with libvips. `format` and `orientation` are the probe's. Requires canDecodeAugmented(g).
 */
export async function decodeAugmented(bytes: ImageInput, g: Geometry, format: string, orientation: number, name: string): Promise<MappedPixels> {
  try {
    return await decodeMapped(bytes, g, format, orientation, name);
  } catch (err) {
    throw decodeError(name, err);
  }
}

async function decodeMapped(bytes: ImageInput, g: Geometry, format: string, orientation: number, name: string): Promise<MappedPixels> {
  const out = g.resize as Size;
  const crop: Box = g.crop;
  const sx = out.width / crop.width;
  const sy = out.height / crop.height;
  const kernel = g.interpolation === 'bicubic' ? 'cubic' : 'linear';
  if (usesShrinkOnLoad(g, format, orientation)) {
    // Shrink-on-load: libvips reduces the whole image (decoded at 1/k) to an intermediate
    // scale, twice the output's, and cuts out the crop's pixels with a margin; the last step,
    // from that region's fractional box to the output, is PIL's resampler (PIL's `box`), so
    // the crop's edges stay where they belong rather than moving to whole pixels. (At 1x
    // the intermediate, the final sub-pixel step blurs: 0.012 mean on photos; at 2x, 0.003.)
    const W = Math.round(g.source.width * sx * 2);
    const H = Math.round(g.source.height * sy * 2);
    const fx = W / g.source.width;
    const fy = H / g.source.height;
    const x0 = crop.left * fx;
    const y0 = crop.top * fy;
    const x1 = (crop.left + crop.width) * fx;
    const y1 = (crop.top + crop.height) * fy;
    const left = Math.max(0, Math.floor(x0) - 2);
    const top = Math.max(0, Math.floor(y0) - 2);
    const region = { left, top, width: Math.min(W, Math.ceil(x1) + 2) - left, height: Math.min(H, Math.ceil(y1) + 2) - top };
    const s = openImage(bytes).resize(W, H, { fit: 'fill', kernel, fastShrinkOnLoad: true }).extract(region);
    const { data, info } = await finishRgb(s, name);
    const part = createRgbImage(info.width, info.height, pixelsOf(data));
    const img = resampleBox(part, { x0: x0 - left, y0: y0 - top, x1: x1 - left, y1: y1 - top }, out, g.interpolation);
    return { data: img.data, width: out.width, rows: identityMap(out.height), cols: identityMap(out.width) };
  }
  let s = openImage(bytes);
  const whole = crop.left === 0 && crop.top === 0 && crop.width === g.source.width && crop.height === g.source.height;
  if (!whole) s = s.extract(crop);
  // Down axes: reduce to the output size; up axes: keep, the affine scales them.
  const tw = sx < 1 ? out.width : crop.width;
  const th = sy < 1 ? out.height : crop.height;
  if (tw !== crop.width || th !== crop.height) s = s.resize(tw, th, { fit: 'fill', kernel, fastShrinkOnLoad: false });
  const ax = sx > 1 ? sx : 1;
  const ay = sy > 1 ? sy : 1;
  if (ax !== 1 || ay !== 1) {
    s = s.affine([ax, 0, 0, ay], {
      idx: ax === 1 ? 0 : 0.5 - 0.5 / ax,
      idy: ay === 1 ? 0 : 0.5 - 0.5 / ay,
      interpolator: g.interpolation === 'bicubic' ? sharp.interpolators.bicubic : sharp.interpolators.bilinear,
    });
  }
  const { data, info } = await finishRgb(s, name);
  const reach = g.interpolation === 'bicubic' ? 2 : 1;
  const cols = ax === 1 ? identityMap(out.width) : upscaleMap(out.width, ax, crop.width, reach, info.width);
  const rows = ay === 1 ? identityMap(out.height) : upscaleMap(out.height, ay, crop.height, reach, info.height);
  if (cols[cols.length - 1] >= info.width || rows[rows.length - 1] >= info.height) {
    throw new RangeError(`decodeAugmented: libvips gave ${info.width}x${info.height} for ${name}, the maps need ${cols[cols.length - 1] + 1}x${rows[rows.length - 1] + 1}`);
  }
  return { data: pixelsOf(data), width: info.width, rows, cols };
}
