import { nextFloat, type RandomSource } from '../random.js';

/**
 * Inverted-dropout masks drawn on the host from a seeded source: 0 with probability p, else
 * 1/(1-p). Training graphs take them as inputs (ONNX Runtime's Dropout is not seedable per
 * step), so a resumed run draws exactly the masks an uninterrupted one would.
 */
export function fillDropoutMask(out: Float32Array, p: number, rng: RandomSource): Float32Array {
  const keep = 1 / (1 - p);
  for (let i = 0; i < out.length; i++) out[i] = nextFloat(rng) < p ? 0 : keep;
  return out;
}

export function dropoutMask(n: number, p: number, rng: RandomSource): Float32Array {
  return fillDropoutMask(new Float32Array(n), p, rng);
}
