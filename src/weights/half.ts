/**
 * 16-bit floats (IEEE float16 and bfloat16) widened to float32. Both are exact: every
 * 16-bit value has a float32 equal to it.
 */

let halfTable: Float32Array | undefined;

function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** A 65536-entry lookup table (256 KiB), built on first use. */
function table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = float16Value(h);
  }
  return halfTable;
}

/** Widen IEEE float16 bit patterns to float32. */
export function float16ToFloat32(src: ArrayLike<number>, out = new Float32Array(src.length)): Float32Array {
  const t = table();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** Widen bfloat16 bit patterns to float32 (they are float32's top 16 bits). */
export function bfloat16ToFloat32(src: ArrayLike<number>, out = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}
