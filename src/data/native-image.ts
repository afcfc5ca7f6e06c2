/**
 * The optional native JPEG path (native/headstart_image.cc, built by `npm run build:native` with
 * Debian's libjpeg62-turbo-dev): one call decodes the part of a JPEG a crop + resize reads with
 * libjpeg-turbo set up as Pillow sets it (the same bytes as PIL's decode), resizes it with PIL's
 * resampler ported to C++ (the same bytes as resample.ts) and writes normalised CHW floats
 * (mirrored if asked) or 8-bit pixels into the caller's buffer, on a libuv worker thread.
 *
 * Used for JPEGs without EXIF rotation (CMYK ones converted as Pillow converts them); other files keep the sharp path.
 * `HEADSTART_NATIVE_DECODE=0` disables it; without the built addon everything runs on sharp.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { DataError } from '../errors.js';
import type { Interpolation } from './preprocess.js';
import type { Box, Size } from './transforms/geometry.js';

interface Addon {
  decode(bytes: Uint8Array, params: Float64Array, out: Float32Array | Uint8Array, table?: Float32Array | null): void;
  decodeAsync(bytes: Uint8Array, params: Float64Array, out: Float32Array | Uint8Array, table?: Float32Array | null): Promise<void>;
}

/** A source region with fractional edges in decoded pixels (PIL's `box`). */
export interface DecodeBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** What one native call does: decode at 1/scale, resize `box` to `size`, write `window` of it. */
export interface NativeDecodeRequest {
  /** JPEG scale_denom: 1 (exact) or 2, 4, 8 (shrink-on-load). */
  scale: 1 | 2 | 4 | 8;
  /** The decoded size expected at that scale (the probed size divided by scale, rounded up). */
  decoded: Size;
  box: DecodeBox;
  size: Size;
  window: Box;
  interpolation: Interpolation;
}

/** Where the result goes: normalised CHW through `table` at `offset` (mirrored if `flip`), or 8-bit HWC. */
export type NativeTarget = { table: Float32Array; out: Float32Array; offset: number; flip: boolean } | { out: Uint8Array; offset: number };

let loaded: { addon: Addon; file: string } | { reason: string } | undefined;

function addonCandidates(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return [`${here}../../native/build/headstart_image.node`, `${here}../../../native/build/headstart_image.node`];
}

/** The native image addon, or why it is not used (disabled, not built, failed to load). Loaded once per thread. */
export function loadNativeImage(env: NodeJS.ProcessEnv = process.env): { addon: Addon; file: string } | { reason: string } {
  if (env.HEADSTART_NATIVE_DECODE === '0') return { reason: 'HEADSTART_NATIVE_DECODE=0 disables the native JPEG decoder' };
  if (loaded) return loaded;
  const file = addonCandidates().find((f) => fs.existsSync(f));
  if (!file) loaded = { reason: 'the native JPEG decoder is not built (npm run build:native; it needs g++ and Debian libjpeg62-turbo-dev)' };
  else {
    try {
      loaded = { addon: createRequire(import.meta.url)(file) as Addon, file };
    } catch (err) {
      loaded = { reason: `the native JPEG decoder ${file} failed to load: ${(err as Error).message} (rebuild it with npm run build:native)` };
    }
  }
  return loaded;
}

/** Which decoder the loader uses for JPEGs, in words (for benches and logs). */
export function jpegDecoderName(env: NodeJS.ProcessEnv = process.env): string {
  const n = loadNativeImage(env);
  return 'addon' in n ? 'native libjpeg-turbo (headstart_image.node)' : `sharp/libvips (${n.reason})`;
}

/** The addon's error for a JPEG in an unusual colour space: the caller decodes that file with sharp instead. */
export function isUnsupportedJpeg(err: unknown): boolean {
  return (err as { code?: string })?.code === 'E_UNSUPPORTED_JPEG';
}

function params(r: NativeDecodeRequest, t: NativeTarget): Float64Array {
  return Float64Array.of(
    r.scale,
    r.decoded.width,
    r.decoded.height,
    r.box.x0,
    r.box.y0,
    r.box.x1,
    r.box.y1,
    r.size.width,
    r.size.height,
    r.window.left,
    r.window.top,
    r.window.width,
    r.window.height,
    r.interpolation === 'bicubic' ? 1 : 0,
    'flip' in t && t.flip ? 1 : 0,
    t.offset,
  );
}

/**
 * Runs one decode on a libuv worker (or on this thread with `sync`, for decode worker threads).
 * Rejects with the addon's error (code E_BAD_IMAGE, E_UNSUPPORTED_JPEG or E_INTERNAL); the caller
 * names the file.
 */
export async function nativeDecode(addon: Addon, bytes: Uint8Array, r: NativeDecodeRequest, t: NativeTarget, sync = false): Promise<void> {
  const p = params(r, t);
  const table = 'table' in t ? t.table : null;
  if (sync) addon.decode(bytes, p, t.out, table);
  else await addon.decodeAsync(bytes, p, t.out, table);
}

/** The addon's internal failures as headstart errors (a bad file's errors are named by the caller). */
export function nativeInternalError(name: string, err: unknown): DataError {
  return new DataError('E_INTERNAL', `The native JPEG decoder failed on \`${name}\`: ${(err as Error).message} (a bug in headstart: please report it)`, {
    hint: 'HEADSTART_NATIVE_DECODE=0 decodes with sharp instead',
    cause: err,
  });
}
