/**
 * Seeded random numbers, the only module that makes them. `Random` (xoshiro128**, seeded by
 * splitmix32) is the generator; everything random in headstart — weight init, shuffles,
 * augmentations, dropout masks — draws from one, keyed by (seed, epoch, index), so a seed
 * reproduces a run and a resumed run continues the same streams.
 *
 * Data code takes any RandomSource and consumes its 32-bit words the way PyTorch's CPU
 * generator does: a float uniform from the low 24 bits in float32 arithmetic, randint as
 * `low + word % range`, randperm by swaps. So transform code mirrors torchvision's sampling
 * step for step, and a test can replay the same words into torchvision and compare.
 */
import { HeadstartError } from './errors.js';

/** A stream of uniformly distributed 32-bit words. */
export interface RandomSource {
  /** The next word, an integer in [0, 2^32). */
  nextUint32(): number;
}

export class Random implements RandomSource {
  private s: Uint32Array;

  constructor(seed: number | Uint32Array = 0) {
    if (seed instanceof Uint32Array) {
      this.s = Uint32Array.from(seed);
      return;
    }
    this.s = new Uint32Array(4);
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** A uint32. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** An independent stream derived from this seed and a key (e.g. epoch and sample index). */
  static derive(seed: number, ...keys: number[]): Random {
    let h = seed >>> 0;
    for (const k of keys) h = Math.imul(h ^ (k >>> 0), 0x9e3779b1) + 0x7f4a7c15;
    return new Random(h >>> 0);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** An independent seeded stream for a list of keys, e.g. (seed, epoch, sample index). */
export function keyedRandom(seed: number, ...keys: number[]): Random {
  return Random.derive(seed, ...keys);
}

/** Uniform double in [0, 1) from one word, 24-bit resolution (torch.rand on float32). */
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
  if (!(range >= 1) || range > 4294967296) throw new HeadstartError('E_INTERNAL', `randomInt: empty or too large range [${low}, ${high}) (a bug in headstart: please report it)`);
  return low + (rng.nextUint32() % range);
}

/** torch.randperm(n) on the CPU: the identity, then swaps i <-> i + word % (n - i). */
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
