/**
 * The image operations of torchvision's AutoAugment family (TrivialAugmentWide, RandAugment)
 * on 8-bit RGB images, as torchvision 0.14 runs them on PIL images, byte for byte:
 * - ShearX/ShearY/TranslateX/TranslateY/Rotate: torchvision's inverse affine matrix (or
 *   Image.rotate's own), then PIL's nearest-neighbour affine (16.16 fixed point, or its
 *   scale-only path for translations; transposes for rotations by multiples of 90 degrees);
 *   outside pixels are 0;
 * - Brightness/Color/Contrast/Sharpness: ImageEnhance (Sharpness blends with PIL's SMOOTH filter);
 * - Posterize/Solarize/AutoContrast/Equalize: ImageOps' lookup tables.
 */
import { ConfigError } from '../../errors.js';
import { createRgbImage, type RgbImage } from '../rgb-image.js';
import { adjustBrightness, adjustContrast, adjustSaturation, blend } from './color-jitter.js';

export const AUGMENT_OP_NAMES = [
  'Identity',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
  'Posterize',
  'Solarize',
  'AutoContrast',
  'Equalize',
] as const;
export type AugmentOpName = (typeof AUGMENT_OP_NAMES)[number];

/** PIL's COORD: -1 for negatives, else truncation. */
const coord = (v: number): number => (v < 0 ? -1 : Math.trunc(v));
/** PIL's FIX: 16.16 fixed point, FLOOR(v * 65536 + 0.5). */
const fix = (v: number): number => {
  const x = v * 65536 + 0.5;
  return x < 0 ? Math.floor(x) : Math.trunc(x);
};
const checkFixed = (a: readonly number[], x: number, y: number): boolean => Math.abs(x * a[0] + y * a[1] + a[2]) < 32768 && Math.abs(x * a[3] + y * a[4] + a[5]) < 32768;

function copyPixel(src: Uint8Array, si: number, dst: Uint8Array, di: number): void {
  dst[di] = src[si];
  dst[di + 1] = src[si + 1];
  dst[di + 2] = src[si + 2];
}

/**
 * PIL's Image.transform(size, AFFINE, a, NEAREST) with fill 0: output pixel (x, y) takes the
 * input pixel at (a0 x + a1 y + a2, a3 x + a4 y + a5), sampled at pixel centres.
 */
function affineNearest(image: RgbImage, a: readonly number[]): RgbImage {
  const { width: w, height: h, data: src } = image;
  const out = createRgbImage(w, h);
  const o = out.data;
  if (a[1] === 0 && a[3] === 0) {
    // ImagingScaleAffine
    const xin = new Int32Array(w).fill(-1);
    let xo = a[2] + a[0] * 0.5;
    let yo = a[5] + a[4] * 0.5;
    for (let x = 0; x < w; x++) {
      const v = coord(xo);
      if (v >= 0 && v < w) xin[x] = v;
      xo += a[0];
    }
    for (let y = 0; y < h; y++) {
      const yi = coord(yo);
      if (yi >= 0 && yi < h) for (let x = 0; x < w; x++) if (xin[x] >= 0) copyPixel(src, (yi * w + xin[x]) * 3, o, (y * w + x) * 3);
      yo += a[4];
    }
    return out;
  }
  if (checkFixed(a, 0, 0) && checkFixed(a, w, h) && checkFixed(a, 0, h) && checkFixed(a, w, 0)) {
    // affine_fixed: 16.16 fixed point
    const a0 = fix(a[0]);
    const a1 = fix(a[1]);
    const a3 = fix(a[3]);
    const a4 = fix(a[4]);
    let a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
    let a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (let y = 0; y < h; y++) {
      let xx = a2;
      let yy = a5;
      for (let x = 0; x < w; x++) {
        const xi = xx >> 16;
        if (xi >= 0 && xi < w) {
          const yi = yy >> 16;
          if (yi >= 0 && yi < h) copyPixel(src, (yi * w + xi) * 3, o, (y * w + x) * 3);
        }
        xx = (xx + a0) | 0;
        yy = (yy + a3) | 0;
      }
      a2 = (a2 + a1) | 0;
      a5 = (a5 + a4) | 0;
    }
    return out;
  }
  let xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  let yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (let y = 0; y < h; y++) {
    let xx = xo;
    let yy = yo;
    for (let x = 0; x < w; x++) {
      const xi = coord(xx);
      const yi = coord(yy);
      if (xi >= 0 && xi < w && yi >= 0 && yi < h) copyPixel(src, (yi * w + xi) * 3, o, (y * w + x) * 3);
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
  return out;
}

const radians = (deg: number): number => deg * (Math.PI / 180);
const degrees = (rad: number): number => rad * (180 / Math.PI);

/** torchvision's _get_inverse_affine_matrix (angle and shear in degrees). */
function inverseAffineMatrix(center: [number, number], angle: number, translate: [number, number], scale: number, shear: [number, number]): number[] {
  const rot = radians(angle);
  const sx = radians(shear[0]);
  const sy = radians(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0, -c, a, 0].map((x) => x / scale);
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

/** Python's round(x, 15). */
const round15 = (x: number): number => Number(x.toFixed(15));

/** PIL's transposes: 90 (counter-clockwise), 180, 270. */
function transpose(image: RgbImage, angle: 90 | 180 | 270): RgbImage {
  const { width: w, height: h, data: src } = image;
  const out = angle === 180 ? createRgbImage(w, h) : createRgbImage(h, w);
  const ow = out.width;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [ox, oy] = angle === 90 ? [y, w - 1 - x] : angle === 180 ? [w - 1 - x, h - 1 - y] : [h - 1 - y, x];
      copyPixel(src, (y * w + x) * 3, out.data, (oy * ow + ox) * 3);
    }
  }
  return out;
}

/** PIL's Image.rotate(angle, NEAREST, expand=False, center=None, fillcolor=0) (counter-clockwise degrees). */
function rotateNearest(image: RgbImage, angleDeg: number): RgbImage {
  const angle = ((angleDeg % 360) + 360) % 360;
  if (angle === 0) return createRgbImage(image.width, image.height, image.data.slice());
  if (angle === 180) return transpose(image, 180);
  if ((angle === 90 || angle === 270) && image.width === image.height) return transpose(image, angle);
  const { width: w, height: h } = image;
  const cx = w / 2;
  const cy = h / 2;
  const r = -radians(angle);
  const m = [round15(Math.cos(r)), round15(Math.sin(r)), 0, round15(-Math.sin(r)), round15(Math.cos(r)), 0];
  m[2] = m[0] * -cx + m[1] * -cy + m[2];
  m[5] = m[3] * -cx + m[4] * -cy + m[5];
  m[2] += cx;
  m[5] += cy;
  return affineNearest(image, m);
}

/** ImageFilter.SMOOTH (3x3, 1 1 1 / 1 5 1 / 1 1 1, / 13) as PIL's float filter computes it (float32 sums, rounded); the border is copied. */
function smooth(image: RgbImage): Uint8Array {
  const { width: w, height: h, data: s } = image;
  const o = s.slice();
  if (w < 3 || h < 3) return o;
  const k1 = Math.fround(1 / 13);
  const k5 = Math.fround(5 / 13);
  const f = Math.fround;
  const row = (p: number, k0: number, k1_: number, k2: number): number => f(f(f(s[p - 3] * k0) + f(s[p] * k1_)) + f(s[p + 3] * k2));
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      for (let c = 0; c < 3; c++) {
        const p = (y * w + x) * 3 + c;
        let ss = 0;
        ss = f(ss + row(p + w * 3, k1, k1, k1));
        ss = f(ss + row(p, k1, k5, k1));
        ss = f(ss + row(p - w * 3, k1, k1, k1));
        o[p] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(f(ss + 0.5));
      }
    }
  }
  return o;
}

function adjustSharpness(image: RgbImage, factor: number): RgbImage {
  const d = smooth(image);
  return blend(image, (i) => d[i], factor);
}

function applyLut(image: RgbImage, lut: (channel: number) => ArrayLike<number>): RgbImage {
  const out = createRgbImage(image.width, image.height);
  const luts = [lut(0), lut(1), lut(2)];
  const s = image.data;
  for (let i = 0; i < s.length; i += 3) {
    out.data[i] = luts[0][s[i]];
    out.data[i + 1] = luts[1][s[i + 1]];
    out.data[i + 2] = luts[2][s[i + 2]];
  }
  return out;
}

function histograms(image: RgbImage): Int32Array[] {
  const h = [new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  const s = image.data;
  for (let i = 0; i < s.length; i += 3) {
    h[0][s[i]]++;
    h[1][s[i + 1]]++;
    h[2][s[i + 2]]++;
  }
  return h;
}

const identityLut = Uint8Array.from({ length: 256 }, (_, i) => i);

function posterize(image: RgbImage, bits: number): RgbImage {
  if (!(Number.isInteger(bits) && bits >= 0 && bits <= 8)) throw new ConfigError('E_BAD_OPTION', `posterize: bits must be an integer in [0, 8], got ${bits}`);
  const mask = ~(2 ** (8 - bits) - 1);
  const lut = identityLut.map((i) => i & mask);
  return applyLut(image, () => lut);
}

function solarize(image: RgbImage, threshold: number): RgbImage {
  const lut = identityLut.map((i) => (i < threshold ? i : 255 - i));
  return applyLut(image, () => lut);
}

function autocontrast(image: RgbImage): RgbImage {
  const hs = histograms(image);
  return applyLut(image, (c) => {
    const h = hs[c];
    let lo = 0;
    while (lo < 255 && !h[lo]) lo++;
    let hi = 255;
    while (hi > 0 && !h[hi]) hi--;
    if (hi <= lo) return identityLut;
    const scale = 255 / (hi - lo);
    const offset = -lo * scale;
    return identityLut.map((ix) => Math.min(255, Math.max(0, Math.trunc(ix * scale + offset))));
  });
}

function equalize(image: RgbImage): RgbImage {
  const hs = histograms(image);
  return applyLut(image, (c) => {
    const h = hs[c];
    const histo = Array.from(h).filter((v) => v > 0);
    if (histo.length <= 1) return identityLut;
    const step = Math.floor((histo.reduce((s, v) => s + v, 0) - histo[histo.length - 1]) / 255);
    if (!step) return identityLut;
    const lut = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      lut[i] = Math.min(255, Math.floor(n / step));
      n += h[i];
    }
    return lut;
  });
}

/** torchvision's _apply_op on a PIL image (interpolation NEAREST, fill None). */
export function applyAugmentOp(image: RgbImage, op: AugmentOpName, magnitude: number): RgbImage {
  const { width: w, height: h } = image;
  switch (op) {
    case 'Identity':
      return image;
    case 'ShearX':
      return affineNearest(image, inverseAffineMatrix([0, 0], 0, [0, 0], 1, [degrees(Math.atan(magnitude)), 0]));
    case 'ShearY':
      return affineNearest(image, inverseAffineMatrix([0, 0], 0, [0, 0], 1, [0, degrees(Math.atan(magnitude))]));
    case 'TranslateX':
      return affineNearest(image, inverseAffineMatrix([w * 0.5, h * 0.5], 0, [Math.trunc(magnitude), 0], 1, [0, 0]));
    case 'TranslateY':
      return affineNearest(image, inverseAffineMatrix([w * 0.5, h * 0.5], 0, [0, Math.trunc(magnitude)], 1, [0, 0]));
    case 'Rotate':
      return rotateNearest(image, magnitude);
    case 'Brightness':
      return adjustBrightness(image, 1 + magnitude);
    case 'Color':
      return adjustSaturation(image, 1 + magnitude);
    case 'Contrast':
      return adjustContrast(image, 1 + magnitude);
    case 'Sharpness':
      return adjustSharpness(image, 1 + magnitude);
    case 'Posterize':
      return posterize(image, Math.trunc(magnitude));
    case 'Solarize':
      return solarize(image, magnitude);
    case 'AutoContrast':
      return autocontrast(image);
    case 'Equalize':
      return equalize(image);
  }
}
