/** Python 3's round(): ties go to the even neighbour (torchvision rounds crop sizes this way). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; pull the odd ones back down.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
