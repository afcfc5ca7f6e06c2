/**
 * MixUp and CutMix on a batch, as torchvision's transforms.v2 MixUp / CutMix define them: a
 * mixing weight lambda ~ Beta(alpha, alpha) per batch, each image paired with the one before
 * it (`batch.roll(1, 0)`, or any given permutation), soft targets
 * lambda * onehot(y) + (1 - lambda) * onehot(y[perm]). MixUp blends whole images; CutMix pastes
 * a box of the partner (centre uniform, side sqrt(1 - lambda) of the image's, clipped) and
 * adjusts lambda to the box's true area. The targets go through the cross-entropy's
 * coefficients (label smoothing and class weights mix the same way).
 */
import { ConfigError } from '../errors.js';
import { randomInt, type RandomSource } from '../random.js';

export type MixKind = 'mixup' | 'cutmix';

export interface MixParams {
  kind: MixKind;
  /** The weight of each image's own label (for CutMix, after the box is clipped). */
  lambda: number;
  /** perm[i]: the batch index whose image and label image i is mixed with. */
  perm: Int32Array;
  /** CutMix: the pasted box [x1, x2) x [y1, y2). */
  box?: { x1: number; y1: number; x2: number; y2: number };
}

/** The permutation of torch's `roll(1, 0)`: image i pairs with image i - 1 (the first with the last). */
export function rollPermutation(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i + n - 1) % n);
}

const unit = (rng: RandomSource): number => (rng.nextUint32() + 0.5) / 4294967296;

function standardNormal(rng: RandomSource): number {
  return Math.sqrt(-2 * Math.log(unit(rng))) * Math.cos(2 * Math.PI * unit(rng));
}

/** Gamma(shape, 1) by Marsaglia and Tsang (with the u^(1/a) boost below shape 1). */
function gamma(rng: RandomSource, shape: number): number {
  if (shape < 1) return gamma(rng, shape + 1) * Math.pow(unit(rng), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = unit(rng);
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A draw of Beta(alpha, alpha). */
export function sampleBeta(rng: RandomSource, alpha: number): number {
  if (!(alpha > 0)) throw new ConfigError('E_BAD_OPTION', `mixup/cutmix: alpha must be > 0, got ${alpha}`);
  const x = gamma(rng, alpha);
  const y = gamma(rng, alpha);
  return x + y > 0 ? x / (x + y) : 0.5;
}

/** torchvision v2 CutMix's box for lambda on an H x W image (two randint draws: x then y). */
export function cutmixBox(rng: RandomSource, height: number, width: number, lambda: number): { box: { x1: number; y1: number; x2: number; y2: number }; lambda: number } {
  const rx = randomInt(rng, 0, width);
  const ry = randomInt(rng, 0, height);
  const r = 0.5 * Math.sqrt(1 - lambda);
  const rw = Math.trunc(r * width);
  const rh = Math.trunc(r * height);
  const box = { x1: Math.max(rx - rw, 0), y1: Math.max(ry - rh, 0), x2: Math.min(rx + rw, width), y2: Math.min(ry + rh, height) };
  return { box, lambda: 1 - ((box.x2 - box.x1) * (box.y2 - box.y1)) / (width * height) };
}

/** The mixed NCHW batch (a new array). */
export function mixImages(images: Float32Array, shape: readonly [number, number, number, number], p: MixParams): Float32Array {
  const [n, c, h, w] = shape;
  const per = c * h * w;
  if (images.length !== n * per || p.perm.length !== n) throw new ConfigError('E_BAD_ARGUMENT', `mixImages: ${images.length} values and ${p.perm.length} pairs for a [${shape.join(', ')}] batch`);
  const out = new Float32Array(images.length);
  if (p.kind === 'mixup') {
    const a = p.lambda;
    const b = 1 - a;
    for (let i = 0; i < n; i++) {
      const o = i * per;
      const q = p.perm[i] * per;
      for (let k = 0; k < per; k++) out[o + k] = images[q + k] * b + images[o + k] * a;
    }
    return out;
  }
  out.set(images);
  const { x1, y1, x2, y2 } = p.box!;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let y = y1; y < y2; y++) {
        const row = ((i * c + ch) * h + y) * w;
        const src = ((p.perm[i] * c + ch) * h + y) * w;
        out.set(images.subarray(src + x1, src + x2), row + x1);
      }
    }
  }
  return out;
}

/** Per-row mixed targets: lambda * rows[i] + (1 - lambda) * rows[perm[i]] (one-hot rows give targets that sum to one). */
export function mixRows(rows: Float32Array, numClasses: number, p: Pick<MixParams, 'lambda' | 'perm'>): Float32Array {
  const out = new Float32Array(rows.length);
  const a = p.lambda;
  for (let i = 0; i < p.perm.length; i++) {
    const o = i * numClasses;
    const q = p.perm[i] * numClasses;
    for (let k = 0; k < numClasses; k++) out[o + k] = rows[q + k] * (1 - a) + rows[o + k] * a;
  }
  return out;
}

/** One-hot rows of the labels. */
export function oneHot(labels: ArrayLike<number>, numClasses: number): Float32Array {
  const out = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) out[i * numClasses + labels[i]] = 1;
  return out;
}

/** The label with the larger weight in each mixed pair (own label on ties): what train accuracy is measured against. */
export function dominantLabels(labels: Int32Array, p: Pick<MixParams, 'lambda' | 'perm'>): Int32Array {
  return p.lambda >= 0.5 ? labels.slice() : Int32Array.from(p.perm, (j) => labels[j]);
}

export interface BatchMixOptions {
  /** MixUp's Beta alpha (0: off). */
  mixup: number;
  /** CutMix's Beta alpha (0: off). With both on, each batch picks one of the two at random. */
  cutmix: number;
}

/** Draws a batch's mixing (kind, lambda, box) for n images of H x W; null when both are off. */
export function drawBatchMix(rng: RandomSource, n: number, height: number, width: number, o: BatchMixOptions): MixParams | null {
  if (!(o.mixup > 0) && !(o.cutmix > 0)) return null;
  const kind: MixKind = o.mixup > 0 && o.cutmix > 0 ? (randomInt(rng, 0, 2) === 0 ? 'mixup' : 'cutmix') : o.mixup > 0 ? 'mixup' : 'cutmix';
  const lambda = sampleBeta(rng, kind === 'mixup' ? o.mixup : o.cutmix);
  const perm = rollPermutation(n);
  if (kind === 'mixup') return { kind, lambda, perm };
  const c = cutmixBox(rng, height, width, lambda);
  return { kind, lambda: c.lambda, perm, box: c.box };
}
