/**
 * A dependency-free SVG line chart: nice ticks, grid, axis labels, title, several series
 * with distinct colours, dash styles and markers, vertical annotations, and a legend placed
 * where it hides no data (or below the axes). Used for loss/accuracy curves.
 *
 * Charts are built as SvgFigure fragments (size + body) so they can be laid out side by
 * side; svgDocument() wraps a figure into a standalone file. Output is deterministic.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { formatTick, niceTicks } from './nice-ticks.js';
import { textWidth } from './text-width.js';
import { escapeXml } from './xml-escape.js';

/** A fragment of SVG markup with its size, positioned at (0, 0). */
export interface SvgFigure {
  width: number;
  height: number;
  body: string;
}

/** Colour-blind-safe palette (Okabe–Ito, with wine for its pale yellow), in the order series get them. */
export const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#882255', '#000000'] as const;
export const DASH_STYLES = { solid: '', dashed: '8 4', dotted: '2 3', dashdot: '9 3 2 3' } as const;
export type DashStyle = keyof typeof DASH_STYLES;
export const MARKERS = ['circle', 'square', 'triangle', 'diamond', 'none'] as const;
export type Marker = (typeof MARKERS)[number];

// Non-finite values are allowed: they break a line into segments.
const anyNumber = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });

export const SeriesSchema = z
  .object({
    name: z.string(),
    x: z.array(anyNumber),
    y: z.array(anyNumber),
    color: z
      .string()
      .regex(/^#[0-9a-fA-F]{6}$/, 'expected a #rrggbb colour')
      .optional(),
    dash: z.enum(Object.keys(DASH_STYLES) as [DashStyle, ...DashStyle[]]).optional(),
    marker: z.enum(MARKERS).optional(),
    /** Index of a point to ring (e.g. the best epoch). */
    highlight: z.number().int().min(0).optional(),
  })
  .strict()
  .refine((s) => s.x.length === s.y.length, { message: 'x and y must have the same length' });
export type Series = z.input<typeof SeriesSchema>;

const LEGEND_POSITIONS = ['auto', 'below', 'none', 'top-right', 'top-left', 'bottom-right', 'bottom-left'] as const;

export const LineChartOptionsSchema = z
  .object({
    title: z.string().optional(),
    xLabel: z.string().optional(),
    yLabel: z.string().optional(),
    /** Width of the figure; height of everything except a legend placed below. */
    width: z.number().min(160).max(4000).default(560),
    height: z.number().min(120).max(4000).default(360),
    fontSize: z.number().min(6).max(40).default(12),
    /** Only integer x ticks (epochs). */
    xInteger: z.boolean().default(false),
    /** Values the y axis must include (e.g. 0 and 1 for accuracy). */
    yInclude: z.array(z.number().refine(Number.isFinite)).default([]),
    /** Hard limits the y axis never extends past (e.g. [0, 1] for accuracy). */
    yBounds: z
      .tuple([z.number(), z.number()])
      .refine(([a, b]) => a < b, { message: 'expected [lower, upper] with lower < upper' })
      .optional(),
    legend: z.enum(LEGEND_POSITIONS).default('auto'),
    /** 'auto' draws markers when no series has more than 40 points. */
    markers: z.union([z.literal('auto'), z.boolean()]).default('auto'),
    /** Vertical reference lines with a label above the plot. */
    annotations: z.array(z.object({ x: z.number().refine(Number.isFinite), label: z.string() }).strict()).default([]),
    background: z.string().default('#ffffff'),
  })
  .strict();
export type LineChartOptions = z.input<typeof LineChartOptionsSchema>;

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

function n2(v: number): string {
  // Two decimals are sub-pixel; strip trailing zeros to keep files small.
  const s = v.toFixed(2);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  return parseOrThrow(schema, value, where, 'see the option types in src/report/svg-plot.ts');
}

function markerPath(kind: Marker, x: number, y: number, r: number): string {
  switch (kind) {
    case 'square':
      return `<rect x="${n2(x - r)}" y="${n2(y - r)}" width="${n2(2 * r)}" height="${n2(2 * r)}"/>`;
    case 'triangle':
      return `<path d="M${n2(x)} ${n2(y - r * 1.2)}L${n2(x + r * 1.1)} ${n2(y + r * 0.8)}L${n2(x - r * 1.1)} ${n2(y + r * 0.8)}Z"/>`;
    case 'diamond':
      return `<path d="M${n2(x)} ${n2(y - r * 1.3)}L${n2(x + r * 1.1)} ${n2(y)}L${n2(x)} ${n2(y + r * 1.3)}L${n2(x - r * 1.1)} ${n2(y)}Z"/>`;
    case 'circle':
      return `<circle cx="${n2(x)}" cy="${n2(y)}" r="${n2(r)}"/>`;
    default:
      return '';
  }
}

/** One legend entry: a line sample in the series' style, then its name. */
function legendItem(s: ResolvedSeries, x: number, y: number, fs: number, markers: boolean): string {
  const dash = DASH_STYLES[s.dash];
  const mk = markers && s.marker !== 'none' ? `<g fill="${s.color}">${markerPath(s.marker, x + 14, y, 3)}</g>` : '';
  return (
    `<line x1="${n2(x)}" y1="${n2(y)}" x2="${n2(x + 28)}" y2="${n2(y)}" stroke="${s.color}" stroke-width="2"` +
    (dash ? ` stroke-dasharray="${dash}"` : '') +
    `/>${mk}<text x="${n2(x + 34)}" y="${n2(y + fs * 0.35)}" font-size="${fs}">${escapeXml(s.name)}</text>`
  );
}

interface ResolvedSeries {
  name: string;
  x: number[];
  y: number[];
  color: string;
  dash: DashStyle;
  marker: Marker;
  highlight?: number;
}

/** A line chart as a figure fragment. */
export function lineChart(series: Series[], options?: LineChartOptions): SvgFigure {
  const where = 'lineChart';
  const opts = parse(LineChartOptionsSchema, options ?? {}, `${where} options`);
  if (!Array.isArray(series) || series.length === 0) {
    throw new ConfigError('E_BAD_ARGUMENT', `${where}: expected at least one series, found ${Array.isArray(series) ? 0 : typeof series}`, {
      hint: 'pass [{ name, x, y }, ...]',
    });
  }
  const resolved: ResolvedSeries[] = series.map((raw, i) => {
    const s = parse(SeriesSchema, raw, `${where}: series[${i}]`);
    return {
      name: s.name,
      x: s.x,
      y: s.y,
      color: s.color ?? PALETTE[i % PALETTE.length],
      dash: s.dash ?? 'solid',
      marker: s.marker ?? (['circle', 'square', 'triangle', 'diamond'] as const)[i % 4],
      highlight: s.highlight,
    };
  });
  const fs = opts.fontSize;
  const W = opts.width;
  const H = opts.height;

  // Data ranges over finite points only.
  let xmin = Infinity,
    xmax = -Infinity,
    ymin = Infinity,
    ymax = -Infinity,
    maxPoints = 0;
  for (const s of resolved) {
    maxPoints = Math.max(maxPoints, s.x.length);
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.x[i]) || !Number.isFinite(s.y[i])) continue;
      xmin = Math.min(xmin, s.x[i]);
      xmax = Math.max(xmax, s.x[i]);
      ymin = Math.min(ymin, s.y[i]);
      ymax = Math.max(ymax, s.y[i]);
    }
  }
  for (const a of opts.annotations) {
    xmin = Math.min(xmin, a.x);
    xmax = Math.max(xmax, a.x);
  }
  if (!Number.isFinite(xmin)) {
    xmin = 0;
    xmax = 1;
  }
  if (!Number.isFinite(ymin)) {
    ymin = 0;
    ymax = 1;
  }
  // Headroom around the data (not around yInclude), so lines do not run along the frame.
  const incLo = Math.min(ymin, ...opts.yInclude);
  const incHi = Math.max(ymax, ...opts.yInclude);
  const headroom = 0.04 * (incHi - incLo);
  ymin = Math.min(ymin - headroom, ...opts.yInclude);
  ymax = Math.max(ymax + headroom, ...opts.yInclude);
  const showMarkers = opts.markers === 'auto' ? maxPoints <= 40 : opts.markers;

  // Vertical layout first (it fixes how many y ticks fit).
  const titleFs = fs + 3;
  const top = 10 + (opts.title ? titleFs + 10 : 0) + (opts.annotations.length ? fs + 12 : 0);
  const bottomAxis = 6 + fs + 6 + (opts.xLabel ? fs + 8 : 0) + 4;
  const plotH = H - top - bottomAxis;
  if (plotH < 40) throw new ConfigError('E_BAD_OPTION', `${where}: height ${H} leaves no room for the plot`, { hint: 'use a larger height' });
  const yt = niceTicks(ymin, ymax, { count: Math.max(2, Math.min(8, Math.floor(plotH / 45))) });
  if (opts.yBounds) {
    const [lo, hi] = opts.yBounds;
    yt.min = Math.max(yt.min, lo);
    yt.max = Math.min(yt.max, hi);
    if (yt.max <= yt.min) {
      yt.min = lo;
      yt.max = hi;
    }
    yt.values = yt.values.filter((v) => v >= yt.min - 1e-12 && v <= yt.max + 1e-12);
  }
  const yLabels = yt.values.map((v) => formatTick(v, yt.decimals));
  const yLabelW = Math.max(...yLabels.map((l) => textWidth(l, fs)));
  const left = 10 + (opts.yLabel ? fs + 10 : 0) + yLabelW + 8;

  // Horizontal layout: x ticks inside a slightly padded data range.
  const xRange = xmax - xmin;
  const xpad = xRange > 0 ? xRange * 0.03 : opts.xInteger ? 0.5 : Math.abs(xmin) * 0.1 || 1;
  const xlo = xmin - xpad;
  const xhi = xmax + xpad;
  const provisionalW = W - left - 16;
  const xt = niceTicks(xlo, xhi, { count: Math.max(2, Math.min(10, Math.floor(provisionalW / 55))), integer: opts.xInteger, extend: false });
  const xLabels = xt.values.map((v) => formatTick(v, xt.decimals));
  const lastXW = xLabels.length ? textWidth(xLabels[xLabels.length - 1], fs) : 0;
  const right = Math.max(16, lastXW / 2 + 6);
  const x0 = left;
  const x1 = W - right;
  const y0 = top;
  const y1 = top + plotH;
  if (x1 - x0 < 40) throw new ConfigError('E_BAD_OPTION', `${where}: width ${W} leaves no room for the plot`, { hint: 'use a larger width' });
  const px = (v: number) => x0 + ((v - xlo) / (xhi - xlo)) * (x1 - x0);
  const py = (v: number) => y1 - ((v - yt.min) / (yt.max - yt.min)) * (y1 - y0);

  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${n2(W)}" height="${n2(H)}" fill="${escapeXml(opts.background)}"/>`);
  if (opts.title) {
    parts.push(`<text x="${n2((x0 + x1) / 2)}" y="${n2(10 + titleFs)}" font-size="${titleFs}" font-weight="bold" text-anchor="middle">${escapeXml(opts.title)}</text>`);
  }
  // Grid and ticks.
  const grid: string[] = [];
  const ticks: string[] = [];
  yt.values.forEach((v, i) => {
    const y = py(v);
    grid.push(`<line x1="${n2(x0)}" y1="${n2(y)}" x2="${n2(x1)}" y2="${n2(y)}"/>`);
    ticks.push(`<line x1="${n2(x0 - 5)}" y1="${n2(y)}" x2="${n2(x0)}" y2="${n2(y)}" stroke="#333"/>`);
    ticks.push(`<text x="${n2(x0 - 8)}" y="${n2(y + fs * 0.35)}" font-size="${fs}" text-anchor="end">${yLabels[i]}</text>`);
  });
  xt.values.forEach((v, i) => {
    const x = px(v);
    grid.push(`<line x1="${n2(x)}" y1="${n2(y0)}" x2="${n2(x)}" y2="${n2(y1)}"/>`);
    ticks.push(`<line x1="${n2(x)}" y1="${n2(y1)}" x2="${n2(x)}" y2="${n2(y1 + 5)}" stroke="#333"/>`);
    ticks.push(`<text x="${n2(x)}" y="${n2(y1 + 6 + fs)}" font-size="${fs}" text-anchor="middle">${xLabels[i]}</text>`);
  });
  parts.push(`<g class="grid" stroke="#e6e6e6" stroke-width="1">${grid.join('')}</g>`);
  parts.push(`<rect class="frame" x="${n2(x0)}" y="${n2(y0)}" width="${n2(x1 - x0)}" height="${n2(y1 - y0)}" fill="none" stroke="#888"/>`);
  parts.push(`<g class="ticks" fill="#333">${ticks.join('')}</g>`);
  if (opts.xLabel) {
    parts.push(`<text x="${n2((x0 + x1) / 2)}" y="${n2(y1 + 6 + fs + 8 + fs)}" font-size="${fs}" text-anchor="middle" fill="#222">${escapeXml(opts.xLabel)}</text>`);
  }
  if (opts.yLabel) {
    const cx = 10 + fs * 0.85;
    const cy = (y0 + y1) / 2;
    parts.push(`<text x="${n2(cx)}" y="${n2(cy)}" font-size="${fs}" text-anchor="middle" fill="#222" transform="rotate(-90 ${n2(cx)} ${n2(cy)})">${escapeXml(opts.yLabel)}</text>`);
  }
  // Annotations: a dashed vertical line, its label above the plot (never over data).
  for (const a of opts.annotations) {
    const x = px(a.x);
    const w = textWidth(a.label, fs - 1);
    const tx = Math.min(Math.max(x, w / 2 + 4), W - w / 2 - 4);
    parts.push(
      `<g class="annotation"><line x1="${n2(x)}" y1="${n2(y0)}" x2="${n2(x)}" y2="${n2(y1)}" stroke="#555" stroke-width="1" stroke-dasharray="4 3"/>` +
        `<text x="${n2(tx)}" y="${n2(y0 - 10)}" font-size="${fs - 1}" text-anchor="middle" fill="#444">${escapeXml(a.label)}</text></g>`,
    );
  }
  // Series: one path per series; non-finite points break the line.
  const pixelPoints: Array<[number, number]> = [];
  for (const s of resolved) {
    let d = '';
    let pen = false;
    const pts: Array<[number, number]> = [];
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.x[i]) || !Number.isFinite(s.y[i])) {
        pen = false;
        continue;
      }
      const X = px(s.x[i]);
      const Y = py(s.y[i]);
      d += `${pen ? 'L' : 'M'}${n2(X)} ${n2(Y)}`;
      pen = true;
      pts.push([X, Y]);
    }
    // Sample segments densely so legend placement sees the lines, not just the vertices.
    for (let i = 0; i < pts.length; i++) {
      pixelPoints.push(pts[i]);
      if (i > 0)
        for (let k = 1; k < 16; k++) {
          pixelPoints.push([pts[i - 1][0] + ((pts[i][0] - pts[i - 1][0]) * k) / 16, pts[i - 1][1] + ((pts[i][1] - pts[i - 1][1]) * k) / 16]);
        }
    }
    const dash = DASH_STYLES[s.dash];
    parts.push(
      `<path class="series" data-name="${escapeXml(s.name)}" d="${d || `M${n2(x0)} ${n2(y1)}`}" fill="none" stroke="${s.color}" stroke-width="2" stroke-linejoin="round"` +
        (dash ? ` stroke-dasharray="${dash}"` : ' stroke-linecap="round"') +
        (d ? '' : ' visibility="hidden"') +
        '/>',
    );
    if (showMarkers && s.marker !== 'none') {
      parts.push(`<g class="markers" fill="${s.color}">${pts.map(([X, Y]) => markerPath(s.marker, X, Y, 3)).join('')}</g>`);
    }
    if (s.highlight !== undefined && Number.isFinite(s.x[s.highlight]) && Number.isFinite(s.y[s.highlight])) {
      parts.push(`<circle class="highlight" cx="${n2(px(s.x[s.highlight]))}" cy="${n2(py(s.y[s.highlight]))}" r="7" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    }
  }

  // Legend.
  let height = H;
  if (opts.legend !== 'none') {
    const itemW = resolved.map((s) => 34 + textWidth(s.name, fs));
    const rowH = fs + 8;
    const boxW = Math.max(...itemW) + 16;
    const boxH = resolved.length * rowH + 8;
    let placed: { x: number; y: number } | undefined;
    const corners = {
      'top-right': { x: x1 - boxW - 8, y: y0 + 8 },
      'bottom-right': { x: x1 - boxW - 8, y: y1 - boxH - 8 },
      'top-left': { x: x0 + 8, y: y0 + 8 },
      'bottom-left': { x: x0 + 8, y: y1 - boxH - 8 },
    } as const;
    const fits = boxW <= (x1 - x0) * 0.6 && boxH <= (y1 - y0) * 0.6;
    if (opts.legend === 'auto' && fits) {
      let best = Infinity;
      for (const c of Object.values(corners)) {
        let hits = 0;
        for (const [X, Y] of pixelPoints) if (X >= c.x - 6 && X <= c.x + boxW + 6 && Y >= c.y - 6 && Y <= c.y + boxH + 6) hits++;
        if (hits < best) {
          best = hits;
          placed = c;
        }
      }
      if (best > 0) placed = undefined;
    } else if (opts.legend !== 'auto' && opts.legend !== 'below') {
      placed = corners[opts.legend];
    }
    const items: string[] = [];
    if (placed) {
      items.push(`<rect x="${n2(placed.x)}" y="${n2(placed.y)}" width="${n2(boxW)}" height="${n2(boxH)}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb" rx="3"/>`);
      resolved.forEach((s, i) => items.push(legendItem(s, placed.x + 8, placed.y + 4 + rowH * i + rowH / 2, fs, showMarkers)));
    } else {
      // Below the axes, wrapped into centred rows.
      const gap = 18;
      const rows: number[][] = [[]];
      let rowW = 0;
      itemW.forEach((w, i) => {
        const row = rows[rows.length - 1];
        if (row.length && rowW + gap + w > W - 20) {
          rows.push([i]);
          rowW = w;
        } else {
          row.push(i);
          rowW += (row.length > 1 ? gap : 0) + w;
        }
      });
      rows.forEach((row, r) => {
        const total = row.reduce((s, i) => s + itemW[i], 0) + gap * (row.length - 1);
        let x = (W - total) / 2;
        const y = H + r * rowH + rowH / 2;
        for (const i of row) {
          items.push(legendItem(resolved[i], x, y, fs, showMarkers));
          x += itemW[i] + gap;
        }
      });
      height = H + rows.length * rowH + 6;
      parts[0] = `<rect x="0" y="0" width="${n2(W)}" height="${n2(height)}" fill="${escapeXml(opts.background)}"/>`;
    }
    parts.push(`<g class="legend" fill="#222">${items.join('')}</g>`);
  }
  return { width: W, height, body: `<g ${FONT} fill="#222">${parts.join('')}</g>` };
}

const SideBySideOptionsSchema = z.object({ gap: z.number().min(0).default(8), title: z.string().optional(), fontSize: z.number().min(6).max(40).default(15) }).strict();
export type SideBySideOptions = z.input<typeof SideBySideOptionsSchema>;

/** Figures in a row (top-aligned), with an optional overall title above them. */
export function sideBySide(figures: SvgFigure[], options?: SideBySideOptions): SvgFigure {
  const opts = parse(SideBySideOptionsSchema, options ?? {}, 'sideBySide options');
  if (figures.length === 0) throw new ConfigError('E_BAD_ARGUMENT', 'sideBySide: expected at least one figure, found none');
  const head = opts.title ? opts.fontSize + 16 : 0;
  let x = 0;
  const parts: string[] = [];
  for (const f of figures) {
    parts.push(`<g transform="translate(${n2(x)} ${n2(head)})">${f.body}</g>`);
    x += f.width + opts.gap;
  }
  const width = x - opts.gap;
  const height = head + Math.max(...figures.map((f) => f.height));
  const bg = `<rect x="0" y="0" width="${n2(width)}" height="${n2(height)}" fill="#ffffff"/>`;
  const title = opts.title
    ? `<text x="${n2(width / 2)}" y="${n2(8 + opts.fontSize)}" ${FONT} font-size="${opts.fontSize}" font-weight="bold" text-anchor="middle" fill="#222">${escapeXml(opts.title)}</text>`
    : '';
  return { width, height, body: bg + title + parts.join('') };
}

/** A standalone SVG file for a figure. */
export function svgDocument(figure: SvgFigure, options?: { title?: string }): string {
  const w = n2(figure.width);
  const h = n2(figure.height);
  const title = options?.title ? `<title>${escapeXml(options.title)}</title>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">` + title + figure.body + '</svg>\n';
}

/** Shorthand: a standalone SVG line chart. */
export function lineChartSvg(series: Series[], options?: LineChartOptions): string {
  return svgDocument(lineChart(series, options), { title: options?.title });
}
