/**
 * TrivialAugmentWide and RandAugment as torchvision 0.14 defines them: the same op lists in
 * the same order, the same magnitude bins (torch.linspace in float32), the same draws from
 * the random source (randint for the op, for the bin, for the sign) and the same PIL image
 * operations (augment-ops.ts). Both are pixel transforms: they run after the crop and flip,
 * on the 8-bit image, where torchvision's recipes put them.
 */
import { ConfigError } from '../../errors.js';
import { randomInt, type RandomSource } from '../../random.js';
import type { RgbImage } from '../rgb-image.js';
import { AUGMENT_OP_NAMES, applyAugmentOp, type AugmentOpName } from './augment-ops.js';
import type { PixelTransform } from './transform.js';

/** One op of an augmentation space: its magnitude bins (null: the op has none) and whether a sign is drawn. */
export interface AugmentSpaceEntry {
  op: AugmentOpName;
  magnitudes: number[] | null;
  signed: boolean;
}

/**
 * torch.linspace(start, end, steps) on float32, value for value as torch 1.13's CPU kernel
 * computes it on x86-64 (AVX2 build): a float32 step; the first floor(steps / 16) * 16 values
 * in vectors of 8 (a fused base start + step * p, or end - step * (steps - 1 - p) past the
 * halfway point, plus float32 k * step per lane), the rest one by one with fused
 * multiply-adds. Checked against torch.linspace in test/data-auto-augment.test.ts.
 */
function linspaceFloat32(start: number, end: number, steps: number): number[] {
  const f = Math.fround;
  const s = f(start);
  const e = f(end);
  const step = f((e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  const vectorised = Math.floor(steps / 16) * 16;
  const fused = (i: number) => (i < half ? f(s + step * i) : f(e - step * (steps - i - 1)));
  return Array.from({ length: steps }, (_, i) => {
    if (i >= vectorised) return fused(i);
    const k = i % 8;
    return f(fused(i - k) + f(k * step));
  });
}

/** 8 - (arange(n) / ((n - 1) / k)).round().int(): float32 division, round half to even. */
function posterizeBits(n: number, k: number): number[] {
  const f = Math.fround;
  const d = f((n - 1) / k);
  return Array.from({ length: n }, (_, i) => {
    const q = f(i / d);
    const r = Math.round(q);
    return 8 - (Math.abs(q % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r);
  });
}

function space(bins: number, shear: number, translate: [number, number], rotate: number, enhance: number, posterize: number): AugmentSpaceEntry[] {
  const lin = (end: number) => linspaceFloat32(0, end, bins);
  const table: Record<AugmentOpName, [number[] | null, boolean]> = {
    Identity: [null, false],
    ShearX: [lin(shear), true],
    ShearY: [lin(shear), true],
    TranslateX: [lin(translate[0]), true],
    TranslateY: [lin(translate[1]), true],
    Rotate: [lin(rotate), true],
    Brightness: [lin(enhance), true],
    Color: [lin(enhance), true],
    Contrast: [lin(enhance), true],
    Sharpness: [lin(enhance), true],
    Posterize: [posterizeBits(bins, posterize), false],
    Solarize: [linspaceFloat32(255, 0, bins), false],
    AutoContrast: [null, false],
    Equalize: [null, false],
  };
  return AUGMENT_OP_NAMES.map((op) => ({ op, magnitudes: table[op][0], signed: table[op][1] }));
}

/** TrivialAugmentWide._augmentation_space. */
export function trivialAugmentSpace(bins = 31): AugmentSpaceEntry[] {
  return space(bins, 0.99, [32, 32], 135, 0.99, 6);
}

/** RandAugment._augmentation_space for an image of `width` x `height`. */
export function randAugmentSpace(bins: number, width: number, height: number): AugmentSpaceEntry[] {
  return space(bins, 0.3, [(150 / 331) * width, (150 / 331) * height], 30, 0.9, 4);
}

/** One drawn op: what the test replays into torchvision. */
export interface DrawnOp {
  op: AugmentOpName;
  magnitude: number;
}

function checkBins(bins: number): void {
  if (!(Number.isInteger(bins) && bins >= 2 && bins <= 1000)) throw new ConfigError('E_BAD_OPTION', `magnitude bins must be an integer in [2, 1000], got ${bins}`);
}

/** TrivialAugmentWide.forward's draws: op, bin, sign. */
function drawTrivialAugment(rng: RandomSource, bins = 31): DrawnOp {
  const sp = trivialAugmentSpace(bins);
  const e = sp[randomInt(rng, 0, sp.length)];
  let magnitude = e.magnitudes ? e.magnitudes[randomInt(rng, 0, e.magnitudes.length)] : 0;
  if (e.signed && randomInt(rng, 0, 2)) magnitude *= -1;
  return { op: e.op, magnitude };
}

/** RandAugment.forward's draws for an image size: numOps times (op, sign). */
function drawRandAugment(rng: RandomSource, width: number, height: number, numOps = 2, magnitude = 9, bins = 31): DrawnOp[] {
  const sp = randAugmentSpace(bins, width, height);
  const ops: DrawnOp[] = [];
  for (let k = 0; k < numOps; k++) {
    const e = sp[randomInt(rng, 0, sp.length)];
    let m = e.magnitudes ? e.magnitudes[magnitude] : 0;
    if (e.signed && randomInt(rng, 0, 2)) m *= -1;
    ops.push({ op: e.op, magnitude: m });
  }
  return ops;
}

export function trivialAugmentWide(options: { bins?: number } = {}): PixelTransform {
  const bins = options.bins ?? 31;
  checkBins(bins);
  return {
    kind: 'pixel',
    name: `TrivialAugmentWide(bins=${bins})`,
    spec: { op: 'trivialAugmentWide', bins },
    apply(image: RgbImage, rng: RandomSource): RgbImage {
      const d = drawTrivialAugment(rng, bins);
      return applyAugmentOp(image, d.op, d.magnitude);
    },
  };
}

export function randAugment(options: { numOps?: number; magnitude?: number; bins?: number } = {}): PixelTransform {
  const numOps = options.numOps ?? 2;
  const magnitude = options.magnitude ?? 9;
  const bins = options.bins ?? 31;
  checkBins(bins);
  if (!(Number.isInteger(numOps) && numOps >= 0 && numOps <= 16)) throw new ConfigError('E_BAD_OPTION', `randAugment: numOps must be an integer in [0, 16], got ${numOps}`);
  if (!(Number.isInteger(magnitude) && magnitude >= 0 && magnitude < bins))
    throw new ConfigError('E_BAD_OPTION', `randAugment: magnitude must be an integer bin in [0, ${bins - 1}], got ${magnitude}`);
  return {
    kind: 'pixel',
    name: `RandAugment(num_ops=${numOps}, magnitude=${magnitude}, bins=${bins})`,
    spec: { op: 'randAugment', numOps, magnitude, bins },
    apply(image: RgbImage, rng: RandomSource): RgbImage {
      let out = image;
      for (const d of drawRandAugment(rng, image.width, image.height, numOps, magnitude, bins)) out = applyAugmentOp(out, d.op, d.magnitude);
      return out;
    },
  };
}
