/**
 * The composed geometry (crop, resize, crop, flip) of a JPEG through the native decoder
 * (native-image.ts) in one call: libjpeg-turbo decodes only the pixels PIL's resampler reads,
 * exactly as PIL decodes them, and the resampler's result goes straight into the batch buffer,
 * normalised and mirrored. torchvision's bytes exactly, except where `shrinkOnLoad` lets a
 * training crop that shrinks 6x or more decode at 1/2, 1/4 or 1/8 scale (libjpeg's scaled IDCT)
 * and resample from there: within the tolerance stated in decode-augmented.ts (tested in
 * test/data-native-decode.test.ts).
 *
 * Returns `undefined` where the native path does not apply (the addon is not built or is
 * disabled, not a JPEG, EXIF rotation, a crop that leaves the image, a JPEG in an unusual colour space): the caller
 * then takes the sharp path.
 */
import { isMainThread } from 'node:worker_threads';
import { DataError } from '../errors.js';
import { decodeError, type ImageInput, type NormalizedTarget } from './decode.js';
import { jpegShrinkOnLoad, usesShrinkOnLoad } from './decode-augmented.js';
import { isUnsupportedJpeg, loadNativeImage, nativeDecode, nativeInternalError, type NativeDecodeRequest } from './native-image.js';
import { createRgbImage, type RgbImage } from './rgb-image.js';
import { boxInside, type Geometry } from './transforms/geometry.js';

export interface NativeGeometryOptions {
  /** Let a crop + resize that shrinks by 6x or more decode at a fraction of the scale (training). */
  shrinkOnLoad?: boolean;
}

/** The native request for `g`, or null where the native path does not apply. */
function nativeRequest(g: Geometry, format: string, orientation: number, options: NativeGeometryOptions = {}): NativeDecodeRequest | null {
  if (format !== 'jpeg' || orientation !== 1 || !boxInside(g.crop, g.source)) return null;
  const crop = g.crop;
  const size = g.resize ?? { width: crop.width, height: crop.height };
  const window = g.post ?? { left: 0, top: 0, width: size.width, height: size.height };
  if (!boxInside(window, size)) return null;
  let scale: 1 | 2 | 4 | 8 = 1;
  if (options.shrinkOnLoad && g.resize && g.post === null && usesShrinkOnLoad(g, format, orientation)) {
    scale = jpegShrinkOnLoad(Math.min(crop.width / size.width, crop.height / size.height) / 2) as 2 | 4 | 8;
  }
  const decoded = { width: Math.ceil(g.source.width / scale), height: Math.ceil(g.source.height / scale) };
  const box = { x0: crop.left / scale, y0: crop.top / scale, x1: (crop.left + crop.width) / scale, y1: (crop.top + crop.height) / scale };
  return { scale, decoded, box, size, window, interpolation: g.interpolation };
}

/**
 * Decodes `g` natively: with `into`, writes the normalised (mirrored if `into.flip`) result there
 * and returns null; otherwise returns the 8-bit window (unflipped). `undefined`: not handled.
 */
export async function decodeNativeGeometry(
  bytes: ImageInput,
  g: Geometry,
  format: string,
  orientation: number,
  name: string,
  into?: NormalizedTarget,
  options: NativeGeometryOptions = {},
): Promise<RgbImage | null | undefined> {
  const native = loadNativeImage();
  if (!('addon' in native)) return undefined;
  const request = nativeRequest(g, format, orientation, options);
  if (!request) return undefined;
  const image = into ? null : createRgbImage(request.window.width, request.window.height);
  try {
    await nativeDecode(native.addon, bytes, request, into ?? { out: image!.data, offset: 0 }, !isMainThread);
    return image;
  } catch (err) {
    if (isUnsupportedJpeg(err)) return undefined;
    if ((err as { code?: string }).code === 'E_BAD_IMAGE') throw decodeError(name, err);
    if (err instanceof DataError) throw err;
    throw nativeInternalError(name, err);
  }
}
