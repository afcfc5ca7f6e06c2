/**
 * The seeded random source every random transform, split and shuffle takes. It is pure
 * (state in, numbers out) so the same seed always gives the same augmentations, and it
 * draws numbers the way PyTorch's CPU generator consumes them (32-bit words; a float
 * uniform from the low 24 bits; randint as `low + word % range`; randperm by swaps), so
 * transform code can mirror torchvision's sampling step for step.
 */

/** A stream of uniformly distributed 32-bit words. */
export interface RandomSource {
  /** The next word, an integer in [0, 2^32). */
  nextUint32(): number;
}

/** Murmur3's finaliser: a bijective 32-bit mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes a list of keys (any safe integers, e.g. seed, epoch, sample index) into one
 * 32-bit seed. Different key lists give independent-looking streams.
 */
export function mixSeed(...keys: number[]): number {
  let h = 0x9e3779b9 ^ keys.length;
  for (const k of keys) {
    if (!Number.isSafeInteger(k)) throw new RangeError(`mixSeed: keys must be safe integers, got ${k}`);
    const lo = k >>> 0;
    const hi = Math.floor(k / 4294967296) >>> 0;
    h = fmix32((h ^ lo) + 0x7f4a7c15);
    h = fmix32((h ^ hi) + 0x6a09e667);
  }
  return h;
}

/** sfc32 (Chris Doty-Humphrey's small fast chaotic generator): 128-bit state, fast in JS. */
export class Random implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A generator for the given keys: `new Random(seed)`, `new Random(seed, epoch, index)`. */
  constructor(...keys: number[]) {
    const s = mixSeed(...keys);
    this.a = fmix32(s ^ 0x243f6a88);
    this.b = fmix32(s ^ 0x85a308d3);
    this.c = fmix32(s ^ 0x13198a2e);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
}

/** Uniform double in [0, 1) from one word (24-bit resolution, like torch.rand on float32). */
export function nextFloat(rng: RandomSource): number {
  return (rng.nextUint32() & 0xffffff) / 16777216;
}

/**
 * torch.empty(1).uniform_(low, high) on a float32 tensor: bounds rounded to float32, a 24-bit
 * fraction, and `x * (to - from) + from` evaluated in float32 (torch's DistAccumType<float>).
 */
export function uniformFloat32(rng: RandomSource, low: number, high: number): number {
  const from = Math.fround(low);
  const to = Math.fround(high);
  const x = nextFloat(rng);
  return Math.fround(Math.fround(x * Math.fround(to - from)) + from);
}

/** torch.randint(low, high): an integer in [low, high), as `low + word % (high - low)`. */
export function randomInt(rng: RandomSource, low: number, high: number): number {
  const range = high - low;
  if (!(range >= 1) || range > 4294967296) throw new RangeError(`randomInt: empty or too large range [${low}, ${high})`);
  return low + (rng.nextUint32() % range);
}

/** torch.randperm(n) on the CPU: the identity permutation, then swaps i <-> i + word % (n - i). */
export function permutation(rng: RandomSource, n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = 0; i < n - 1; i++) {
    const z = rng.nextUint32() % (n - i);
    const t = p[i];
    p[i] = p[z + i];
    p[z + i] = t;
  }
  return p;
}
