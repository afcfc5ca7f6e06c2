/** Sequential blue colour scale (ColorBrewer "Blues") for heat maps, and a readable text colour on it. */
const STOPS = ['#f7fbff', '#deebf7', '#c6dbef', '#9ecae1', '#6baed6', '#4292c6', '#2171b5', '#08519c', '#08306b'].map((h) => [
  parseInt(h.slice(1, 3), 16),
  parseInt(h.slice(3, 5), 16),
  parseInt(h.slice(5, 7), 16),
]);

/** Colour for a value in [0, 1] (clamped; non-finite maps to 0). */
export function heatColor(value: number): string {
  const v = Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
  const pos = v * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(pos));
  const t = pos - i;
  const c = STOPS[i].map((a, k) => Math.round(a + (STOPS[i + 1][k] - a) * t));
  return '#' + c.map((x) => x.toString(16).padStart(2, '0')).join('');
}

/** Dark text on light cells, white on dark ones. */
export function heatTextColor(value: number): string {
  return Number.isFinite(value) && value > 0.55 ? '#ffffff' : '#1a1a1a';
}
