/**
 * How the data code draws random numbers. Transforms, splits and shuffles take any
 * RandomSource (headstart's seeded `Random` in src/random.ts is one) and consume its 32-bit
 * words the way PyTorch's CPU generator does: a float uniform from the low 24 bits in
 * float32 arithmetic, randint as `low + word % range`, randperm by swaps. So transform code
 * mirrors torchvision's sampling step for step, and a test can replay the same words into
 * torchvision and compare.
 */
import { Random } from '../random.js';

/** A stream of uniformly distributed 32-bit words. */
export interface RandomSource {
  /** The next word, an integer in [0, 2^32). */
  nextUint32(): number;
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
  if (!(range >= 1) || range > 4294967296) throw new RangeError(`randomInt: empty or too large range [${low}, ${high})`);
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
