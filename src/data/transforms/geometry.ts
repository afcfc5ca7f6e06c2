/**
 * The geometric part of a pipeline, composed into one record relative to the source image:
 * crop a box (zero padding where it leaves the image), resize the crop once, crop a box of
 * the resized image, mirror. Every geometric transform composes onto it, so the loader can
 * hand the whole thing to libvips in one decode (crop before resize, so only the needed
 * pixels are resampled), while `executeGeometry` is the pure reference in JS.
 */
import type { Interpolation } from '../preprocess.js';

export interface Size {
  width: number;
  height: number;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

export interface Geometry {
  /** Size of the (EXIF-oriented) source image. */
  source: Size;
  /** Box of the source; may extend past its edges (zero padding). */
  crop: Box;
  /** Size the crop is resampled to; null for no resampling. */
  resize: Size | null;
  interpolation: Interpolation;
  /** Box of the resized crop (only set after a resize); may extend past its edges. */
  post: Box | null;
  /** Mirror the result left-right. */
  flip: boolean;
}

export function identityGeometry(source: Size, interpolation: Interpolation = 'bilinear'): Geometry {
  return { source, crop: { left: 0, top: 0, width: source.width, height: source.height }, resize: null, interpolation, post: null, flip: false };
}

/** Size of the image the geometry produces. */
export function geometrySize(g: Geometry): Size {
  if (g.post) return { width: g.post.width, height: g.post.height };
  if (g.resize) return g.resize;
  return { width: g.crop.width, height: g.crop.height };
}

export function boxInside(box: Box, size: Size): boolean {
  return box.left >= 0 && box.top >= 0 && box.left + box.width <= size.width && box.top + box.height <= size.height;
}
