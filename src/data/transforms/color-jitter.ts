/**
 * ColorJitter: torchvision's sampling (a random order from randperm(4), then one uniform
 * factor per enabled jitter) and its PIL arithmetic, reproduced bit for bit: ImageEnhance's
 * blends in float32 with truncation, the ITU-R 601 luma PIL uses for "L", and PIL's own
 * RGB <-> HSV conversion with the hue channel shifted modulo 256.
 */
import { ConfigError } from '../../errors.js';
import { permutation, uniformFloat32, type RandomSource } from '../../random.js';
import { createRgbImage, type RgbImage } from '../rgb-image.js';
import type { PixelTransform } from './transform.js';

export interface ColorJitterOptions {
  /** Factor drawn from [max(0, 1 - b), 1 + b]. */
  brightness?: number;
  contrast?: number;
  saturation?: number;
  /** Shift drawn from [-h, h], h <= 0.5. */
  hue?: number;
}

export interface ColorJitterParams {
  /** Application order of 0 brightness, 1 contrast, 2 saturation, 3 hue. */
  order: number[];
  brightness: number | null;
  contrast: number | null;
  saturation: number | null;
  hue: number | null;
}

const f32 = Math.fround;

/** Image.blend(degenerate, image, alpha) as Pillow computes it (float32, truncating, clipping when extrapolating). */
export function blend(image: RgbImage, degenerate: (i: number) => number, factor: number): RgbImage {
  const alpha = f32(factor);
  const out = createRgbImage(image.width, image.height);
  const src = image.data;
  const o = out.data;
  const interpolate = alpha >= 0 && alpha <= 1;
  for (let i = 0; i < src.length; i++) {
    const a = degenerate(i);
    const t = f32(a + f32(alpha * (src[i] - a)));
    if (interpolate) o[i] = Math.trunc(t);
    else o[i] = t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
  }
  return out;
}

/** PIL's RGB -> L: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. */
function luma(image: RgbImage): Uint8Array {
  const d = image.data;
  const n = image.width * image.height;
  const l = new Uint8Array(n);
  for (let i = 0, p = 0; i < n; i++, p += 3) l[i] = (d[p] * 19595 + d[p + 1] * 38470 + d[p + 2] * 7471 + 0x8000) >>> 16;
  return l;
}

export function adjustBrightness(image: RgbImage, factor: number): RgbImage {
  return blend(image, () => 0, factor);
}

export function adjustContrast(image: RgbImage, factor: number): RgbImage {
  const l = luma(image);
  let sum = 0;
  for (let i = 0; i < l.length; i++) sum += l[i];
  const mean = Math.trunc(sum / l.length + 0.5);
  return blend(image, () => mean, factor);
}

export function adjustSaturation(image: RgbImage, factor: number): RgbImage {
  const l = luma(image);
  return blend(image, (i) => l[(i / 3) | 0], factor);
}

function clip8(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : v;
}

/** C's round(): halves away from zero. */
function roundAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

export function adjustHue(image: RgbImage, factor: number): RgbImage {
  if (!(factor >= -0.5 && factor <= 0.5)) throw new ConfigError('E_BAD_OPTION', `adjustHue: factor must be in [-0.5, 0.5], got ${factor}`);
  // np.uint8(hue_factor * 255): truncate toward zero, wrap modulo 256.
  const shift = ((Math.trunc(factor * 255) % 256) + 256) % 256;
  const d = image.data;
  const out = createRgbImage(image.width, image.height);
  const o = out.data;
  for (let p = 0; p < d.length; p += 3) {
    const r = d[p];
    const g = d[p + 1];
    const b = d[p + 2];
    // rgb2hsv_row
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    let uh = 0;
    let us = 0;
    const uv = maxc;
    if (minc !== maxc) {
      const cr = f32(maxc - minc);
      const s = f32(cr / maxc);
      const rc = f32((maxc - r) / cr);
      const gc = f32((maxc - g) / cr);
      const bc = f32((maxc - b) / cr);
      let h: number;
      if (r === maxc) h = f32(bc - gc);
      else if (g === maxc) h = f32(2.0 + rc - bc);
      else h = f32(4.0 + gc - rc);
      h = f32((h / 6.0 + 1.0) % 1.0);
      uh = clip8(Math.trunc(h * 255.0));
      us = clip8(Math.trunc(s * 255.0));
    }
    const hh = (uh + shift) & 255;
    // hsv2rgb
    if (us === 0) {
      o[p] = o[p + 1] = o[p + 2] = uv;
      continue;
    }
    const i = Math.floor((f32(hh) * 6.0) / 255.0);
    const f = f32((f32(hh) * 6.0) / 255.0 - i);
    const fs = f32(us / 255.0);
    const up = clip8(roundAway(uv * (1.0 - fs)));
    const uq = clip8(roundAway(uv * (1.0 - f32(fs * f))));
    const ut = clip8(roundAway(uv * (1.0 - fs * (1.0 - f))));
    let R: number;
    let G: number;
    let B: number;
    switch (i % 6) {
      case 0:
        R = uv;
        G = ut;
        B = up;
        break;
      case 1:
        R = uq;
        G = uv;
        B = up;
        break;
      case 2:
        R = up;
        G = uv;
        B = ut;
        break;
      case 3:
        R = up;
        G = uq;
        B = uv;
        break;
      case 4:
        R = ut;
        G = up;
        B = uv;
        break;
      default:
        R = uv;
        G = up;
        B = uq;
        break;
    }
    o[p] = R;
    o[p + 1] = G;
    o[p + 2] = B;
  }
  return out;
}

function range(name: string, value: number | undefined, center: number, bound: [number, number], clipFirst: boolean): [number, number] | null {
  if (value === undefined || value === 0) return null;
  if (!(value >= 0)) throw new ConfigError('E_BAD_OPTION', `colorJitter: ${name} must be >= 0, got ${value}`);
  const r: [number, number] = [center - value, center + value];
  if (clipFirst) r[0] = Math.max(r[0], 0);
  if (!(r[0] >= bound[0] && r[1] <= bound[1])) throw new ConfigError('E_BAD_OPTION', `colorJitter: ${name} range ${r} leaves [${bound}]`);
  return r[0] === r[1] && r[0] === center ? null : r;
}

/** ColorJitter.get_params. */
function sampleColorJitter(rng: RandomSource, options: ColorJitterOptions): ColorJitterParams {
  const b = range('brightness', options.brightness, 1, [0, Infinity], true);
  const c = range('contrast', options.contrast, 1, [0, Infinity], true);
  const s = range('saturation', options.saturation, 1, [0, Infinity], true);
  const h = range('hue', options.hue, 0, [-0.5, 0.5], false);
  const order = Array.from(permutation(rng, 4));
  return {
    order,
    brightness: b ? uniformFloat32(rng, b[0], b[1]) : null,
    contrast: c ? uniformFloat32(rng, c[0], c[1]) : null,
    saturation: s ? uniformFloat32(rng, s[0], s[1]) : null,
    hue: h ? uniformFloat32(rng, h[0], h[1]) : null,
  };
}

function applyColorJitter(image: RgbImage, p: ColorJitterParams): RgbImage {
  let out = image;
  for (const fn of p.order) {
    if (fn === 0 && p.brightness !== null) out = adjustBrightness(out, p.brightness);
    else if (fn === 1 && p.contrast !== null) out = adjustContrast(out, p.contrast);
    else if (fn === 2 && p.saturation !== null) out = adjustSaturation(out, p.saturation);
    else if (fn === 3 && p.hue !== null) out = adjustHue(out, p.hue);
  }
  return out;
}

export function colorJitter(options: ColorJitterOptions): PixelTransform {
  sampleColorJitter({ nextUint32: () => 0 }, options); // validate once, up front
  return {
    kind: 'pixel',
    name: `ColorJitter(${JSON.stringify(options)})`,
    spec: { op: 'colorJitter', ...options },
    apply: (image: RgbImage, rng: RandomSource) => applyColorJitter(image, sampleColorJitter(rng, options)),
  };
}
