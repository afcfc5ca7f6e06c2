/**
 * The edge where files become pixels: reading bytes and decoding them with sharp (libvips).
 * Every decode yields 8-bit sRGB RGB with the EXIF orientation applied: grey, palette,
 * CMYK and 16-bit images are converted, alpha is composited on white, and only the first
 * frame of a GIF/WebP/TIFF is read.
 *
 * `decodeGeometry` decodes only the part of the image a composed crop/resize reads (libvips
 * decodes JPEGs exactly as PIL does: same libjpeg-turbo settings, same bytes) and resizes it
 * with the exact port of PIL's resampler in JS, so the result is torchvision's bit for bit.
 * With `libvipsDownscale` (the training transform), downscales run in the same libvips call
 * with its antialiased kernel of the same family as PIL's (within ~0.3/255 of it) instead.
 */
import { availableParallelism } from 'node:os';
import { describeDecodeFailure } from './decode-failure.js';
import sharp, { type Sharp } from 'sharp';
import { DataError, IOError } from '../errors.js';
import { readFileSyncOrThrow } from '../read-file.js';
import { readImageHeader } from './image-header.js';
import { createRgbImage, type RgbImage } from './rgb-image.js';
import { boxInside, type Box, type Geometry, type Size } from './transforms/geometry.js';
import { cropWithPadding } from './transforms/crop.js';
import { resample, resampleInputBox, resampleNormalized, resampleRegionNormalized } from './transforms/resample.js';

export type ImageInput = Buffer | Uint8Array;

/** What sharp says about a file, plus the size after EXIF orientation. */
export interface ImageProbe {
  format: string;
  width: number;
  height: number;
  orientation: number;
  channels?: number;
  depth?: string;
  space?: string;
  hasAlpha?: boolean;
  /** Where the size came from: the JS header reader or libvips. */
  source: 'header' | 'libvips';
}

// sharp runs on libuv's thread pool, which libuv sizes once, when it first starts (default 4):
// leave room for one decode per core. Has no effect if the pool already started or the user set it.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(Math.min(64, Math.max(4, availableParallelism())));

let sharpTuned = false;

/**
 * Decodes run in parallel across images, so each libvips pipeline gets one worker thread
 * (more only adds hand-offs), and the operation cache, which only pays off for repeated
 * identical inputs, is off. Both are process-wide sharp settings.
 */
function tuneSharp(): void {
  if (sharpTuned) return;
  sharpTuned = true;
  sharp.cache(false);
  sharp.concurrency(1);
}

/** `err` as a DataError naming the file (DataErrors pass through). */
export function decodeError(name: string, err: unknown): DataError {
  if (err instanceof DataError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new DataError('E_BAD_IMAGE', `Cannot decode image \`${name}\`: ${describeDecodeFailure(msg)}`, {
    hint: 'the file is unreadable, truncated or not an image; run `headstart doctor <dataset>` to list such files',
    cause: err,
  });
}

/**
 * A sharp pipeline on `bytes` with headstart's settings (EXIF orientation applied, strict).
 * An embedded ICC profile is ignored, as PIL (and so torchvision) ignores it: sharp would
 * otherwise convert through it (a Display P3 photo moved by up to 78 levels, 7.8 on average),
 * and a model would see other colours than the same model in PyTorch.
 */
export function openImage(bytes: ImageInput): Sharp {
  tuneSharp();
  return sharp(bytes, { autoOrient: true, failOn: 'warning', ignoreIcc: true });
}

function finish(s: Sharp): Sharp {
  return s
    .flatten({ background: { r: 255, g: 255, b: 255 } })
    .toColourspace('srgb')
    .removeAlpha()
    .raw({ depth: 'uchar' });
}

/** Runs `s` to 8-bit sRGB RGB (alpha over white); checks libvips gave 3 channels of 8 bits. */
export async function finishRgb(s: Sharp, name: string): Promise<{ data: Buffer; info: { width: number; height: number } }> {
  const { data, info } = await finish(s).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new DataError(
      'E_BAD_IMAGE',
      `Cannot decode image \`${name}\`: expected 3 channels of 8 bits, libvips gave ${info.channels} channels, ${data.length} bytes for ${info.width}x${info.height}`,
      {
        hint: 'run `headstart doctor <dataset>` to list unusable files',
      },
    );
  }
  return { data, info };
}

async function toRgb(s: Sharp, name: string, expect?: Size): Promise<RgbImage> {
  const { data, info } = await finishRgb(s, name);
  if (expect && (info.width !== expect.width || info.height !== expect.height)) {
    throw new DataError('E_BAD_IMAGE', `Cannot decode image \`${name}\`: expected ${expect.width}x${expect.height}, libvips gave ${info.width}x${info.height}`);
  }
  return createRgbImage(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.length));
}

/**
 * Reads a file's bytes; failures become IOErrors naming the path (E_NOT_FOUND, E_READ_FAILED).
 * The read is synchronous on purpose: image files are small, and one blocking read costs less
 * CPU than fs.promises' four thread-pool round trips (open, stat, read, close), while libvips
 * keeps decoding.
 */
export async function readImageBytes(path: string): Promise<Buffer> {
  return readFileSyncOrThrow(path, 'image', 'check that the file exists and is readable');
}

/**
 * A failure that concerns one image only (it cannot be read or decoded): the loader skips
 * that sample and reports it, where any other error (a bug, E_INTERNAL, included) stops the run.
 */
export type SampleError = DataError | IOError;

export function isSampleError(err: unknown): err is SampleError {
  return (err instanceof DataError || err instanceof IOError) && err.code !== 'E_INTERNAL';
}

/**
 * Size (after EXIF orientation) and format: from the JS header reader when it can (JPEG,
 * PNG), else (or with `useHeader: false`) from libvips.
 */
export async function probeImage(bytes: ImageInput, name = '<buffer>', options: { useHeader?: boolean } = {}): Promise<ImageProbe> {
  const fast = options.useHeader === false ? null : readImageHeader(bytes);
  if (fast) return { ...fast, source: 'header' };
  try {
    const m = await openImage(bytes).metadata();
    const w = m.autoOrient?.width ?? m.width;
    const h = m.autoOrient?.height ?? m.height;
    if (!w || !h) throw new DataError('E_BAD_IMAGE', `Cannot decode image \`${name}\`: no image size in the header`);
    return { format: m.format ?? 'unknown', width: w, height: h, orientation: m.orientation ?? 1, channels: m.channels, depth: m.depth, space: m.space, hasAlpha: m.hasAlpha, source: 'libvips' };
  } catch (err) {
    throw decodeError(name, err);
  }
}

/** What a full check of one file found (see `inspectImage`). */
export interface ImageInspection extends ImageProbe {
  isPalette?: boolean;
  pages?: number;
}

/**
 * Reads the metadata and decodes every pixel (into a small thumbnail, so the check is cheap
 * but still reads all the compressed data: truncation shows). Throws a DataError naming the
 * file when either fails.
 */
export async function inspectImage(bytes: ImageInput, name = '<buffer>'): Promise<ImageInspection> {
  try {
    const m = await openImage(bytes).metadata();
    const width = m.autoOrient?.width ?? m.width;
    const height = m.autoOrient?.height ?? m.height;
    if (!width || !height) throw new DataError('E_BAD_IMAGE', `Cannot decode image \`${name}\`: no image size in the header`);
    await finish(openImage(bytes).resize(32, 32, { fit: 'inside' })).toBuffer();
    return {
      format: m.format ?? 'unknown',
      width,
      height,
      orientation: m.orientation ?? 1,
      channels: m.channels,
      depth: m.depth,
      space: m.space,
      hasAlpha: m.hasAlpha,
      isPalette: m.isPalette,
      pages: m.pages,
      source: 'libvips',
    };
  } catch (err) {
    throw decodeError(name, err);
  }
}

/** Decodes a whole image to 8-bit RGB. */
export async function decodeImage(input: ImageInput | string, name = typeof input === 'string' ? input : '<buffer>'): Promise<RgbImage> {
  const bytes = typeof input === 'string' ? await readImageBytes(input) : input;
  try {
    return await toRgb(openImage(bytes), name);
  } catch (err) {
    throw decodeError(name, err);
  }
}

function intersect(box: Box, size: Size): Box | null {
  const left = Math.max(0, box.left);
  const top = Math.max(0, box.top);
  const right = Math.min(size.width, box.left + box.width);
  const bottom = Math.min(size.height, box.top + box.height);
  return right > left && bottom > top ? { left, top, width: right - left, height: bottom - top } : null;
}

function isWhole(box: Box, size: Size): boolean {
  return box.left === 0 && box.top === 0 && box.width === size.width && box.height === size.height;
}

/** Crops `box` (which may leave the image) out of the source in one decode; zero padding in JS. */
async function decodeCrop(bytes: ImageInput, source: Size, box: Box, name: string): Promise<RgbImage> {
  const inside = intersect(box, source);
  if (!inside) return createRgbImage(box.width, box.height); // all padding
  let s = openImage(bytes);
  if (!isWhole(inside, source)) s = s.extract(inside);
  const part = await toRgb(s, name, inside);
  if (inside.left === box.left && inside.top === box.top && inside.width === box.width && inside.height === box.height) return part;
  return cropWithPadding(part, { left: box.left - inside.left, top: box.top - inside.top, width: box.width, height: box.height });
}

export interface DecodeGeometryOptions {
  /**
   * Let libvips downscale with its own antialiased kernel (within ~0.3/255 of PIL's, not bit
   * for bit) in the decode call. Default false: PIL's resampler in JS, torchvision's bytes.
   */
  libvipsDownscale?: boolean;
}

/** Where a fused decode writes: normalised CHW floats (see normalizationTable) at `offset`, mirrored if `flip`. */
export interface NormalizedTarget {
  table: Float32Array;
  out: Float32Array;
  offset: number;
  flip: boolean;
}

/**
 * Decodes the image and applies the geometry's crop, resize and post-crop, but not its flip
 * (the caller folds the mirror into normalisation). `g.source` must be the probed size.
 * With `into`, a resize done in JS writes its rows straight into `into.out`, normalised and
 * mirrored by `into.flip` (the same values as normalising the image), and null is returned;
 * otherwise (and whenever it returns an image) the caller normalises the image.
 */
export async function decodeGeometry(bytes: ImageInput, g: Geometry, name?: string, into?: undefined, options?: DecodeGeometryOptions): Promise<RgbImage>;
export async function decodeGeometry(bytes: ImageInput, g: Geometry, name: string, into: NormalizedTarget | undefined, options?: DecodeGeometryOptions): Promise<RgbImage | null>;
export async function decodeGeometry(bytes: ImageInput, g: Geometry, name = '<buffer>', into?: NormalizedTarget, options: DecodeGeometryOptions = {}): Promise<RgbImage | null> {
  try {
    if (!g.resize) return await decodeCrop(bytes, g.source, g.crop, name);
    const post = g.post ?? { left: 0, top: 0, width: g.resize.width, height: g.resize.height };
    const downscale = g.resize.width <= g.crop.width && g.resize.height <= g.crop.height;
    if (!options.libvipsDownscale && boxInside(g.crop, g.source) && boxInside(post, g.resize)) {
      // PIL's resampler on just the source pixels its taps read for `post` (an eval transform's
      // centre crop reads ~60% of the image): decoded by libvips as PIL decodes them.
      const crop = g.crop;
      const need = resampleInputBox(crop, g.resize, g.interpolation, post);
      const box = { left: crop.left + need.left, top: crop.top + need.top, width: need.width, height: need.height };
      let s = openImage(bytes);
      if (!isWhole(box, g.source)) s = s.extract(box);
      const part = await toRgb(s, name, box);
      return resampleRegionNormalized(part, need, crop, g.resize, g.interpolation, post, into);
    }
    if (options.libvipsDownscale && downscale && boxInside(g.crop, g.source)) {
      let s = openImage(bytes);
      if (!isWhole(g.crop, g.source)) s = s.extract(g.crop);
      s = s.resize(g.resize.width, g.resize.height, {
        fit: 'fill',
        kernel: g.interpolation === 'bicubic' ? 'cubic' : 'linear',
        fastShrinkOnLoad: false,
      });
      const postInside = intersect(post, g.resize);
      if (!postInside) return createRgbImage(post.width, post.height);
      if (!isWhole(postInside, g.resize)) s = s.extract(postInside);
      const img = await toRgb(s, name, postInside);
      if (postInside.width === post.width && postInside.height === post.height) return img;
      return cropWithPadding(img, { left: post.left - postInside.left, top: post.top - postInside.top, width: post.width, height: post.height });
    }
    // Upscaling (libvips' upsampler is not PIL's) or a padded crop: resample in JS.
    const crop = await decodeCrop(bytes, g.source, g.crop, name);
    if (boxInside(post, g.resize)) {
      if (!into) return resample(crop, g.resize, g.interpolation, post);
      resampleNormalized(crop, g.resize, g.interpolation, post, into.table, into.out, into.offset, into.flip);
      return null;
    }
    return cropWithPadding(resample(crop, g.resize, g.interpolation), post);
  } catch (err) {
    throw decodeError(name, err);
  }
}
