/** Max absolute difference relative to the reference's largest magnitude (floored at 1e-3): the parity tests' error measure. */
import assert from 'node:assert/strict';

export function relError(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  assert.equal(ours.length, ref.length, 'lengths differ');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / Math.max(scale, 1e-3);
}
