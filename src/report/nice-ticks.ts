/**
 * "Nice" axis ticks: steps of 1, 2, 2.5 or 5 times a power of ten, chosen so that about
 * `count` ticks cover the range (Heckbert's graph-labelling method, simplified).
 */
export interface Ticks {
  /** Axis bounds: the data range widened to whole steps (or kept as given with `extend: false`). */
  min: number;
  max: number;
  step: number;
  values: number[];
  /** Decimals that print every tick exactly. */
  decimals: number;
}

export interface NiceTickOptions {
  /** Target number of intervals. */
  count?: number;
  /** Only integer ticks (epochs). */
  integer?: boolean;
  /** Widen the bounds to whole steps (true) or keep [min, max] and tick inside it (false). */
  extend?: boolean;
}

const MANTISSAS = [1, 2, 2.5, 5, 10];

function niceStep(rough: number, integer = false): { step: number; decimals: number } {
  if (integer && rough <= 1) return { step: 1, decimals: 0 };
  const exp = Math.floor(Math.log10(rough));
  const base = Math.pow(10, exp);
  for (const m of MANTISSAS) {
    if (m * base >= rough * (1 - 1e-9)) {
      if (integer && m === 2.5 && exp < 1) continue;
      const mantissa = m === 10 ? 1 : m;
      const e = m === 10 ? exp + 1 : exp;
      const decimals = Math.max(0, -e) + (mantissa === 2.5 ? 1 : 0);
      return { step: Number((mantissa * Math.pow(10, e)).toFixed(Math.max(0, decimals))), decimals };
    }
  }
  /* c8 ignore next */
  return { step: 10 * base, decimals: Math.max(0, -(exp + 1)) };
}

export function niceTicks(min: number, max: number, options: NiceTickOptions = {}): Ticks {
  const count = options.count ?? 5;
  const integer = options.integer ?? false;
  const extend = options.extend ?? true;
  if (!Number.isFinite(min) || !Number.isFinite(max)) {
    min = 0;
    max = 1;
  }
  if (min > max) [min, max] = [max, min];
  if (max - min < 1e-12 * Math.max(1, Math.abs(max))) {
    // A flat series: open a window around the value.
    const pad = integer ? 1 : Math.abs(min) > 1e-12 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const { step, decimals } = niceStep((max - min) / count, integer);
  const round = (v: number) => Number(v.toFixed(decimals));
  const lo = extend ? round(Math.floor(min / step + 1e-9) * step) : min;
  const hi = extend ? round(Math.ceil(max / step - 1e-9) * step) : max;
  const values: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  for (let i = first; i <= last; i++) values.push(round(i * step));
  return { min: lo, max: hi, step, values, decimals };
}

export function formatTick(value: number, decimals: number): string {
  const s = value.toFixed(decimals);
  return s === '-0' || /^-0\.0+$/.test(s) ? s.slice(1) : s;
}
