/**
 * The confusion matrix as an SVG heat map (confusion.svg): rows are true classes, columns
 * predicted ones; a cell's shade is its share of the row (the class's recall on the diagonal),
 * its text the count. Long class names rotate on the x axis.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import type { ConfusionMatrix } from '../metrics/classification.js';
import { heatColor, heatTextColor } from './heat-color.js';
import type { SvgFigure } from './svg-plot.js';
import { svgDocument } from './svg-plot.js';
import { textWidth } from './text-width.js';
import { escapeXml } from './xml-escape.js';

const ConfusionOptionsSchema = z
  .object({
    title: z.string().default('Confusion matrix'),
    /** Side of a cell in px; by default it shrinks with the number of classes. */
    cellSize: z.number().min(6).max(200).optional(),
    fontSize: z.number().min(6).max(40).default(12),
  })
  .strict();
export type ConfusionSvgOptions = z.input<typeof ConfusionOptionsSchema>;

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
const r1 = (v: number) => String(Math.round(v * 10) / 10);

function confusionFigure(confusion: ConfusionMatrix, classNames: string[], options?: ConfusionSvgOptions): SvgFigure {
  const opts = parseOrThrow(ConfusionOptionsSchema, options ?? {}, 'confusionFigure: invalid options');
  const k = confusion.length;
  if (k === 0 || confusion.some((row) => row.length !== k)) {
    throw new ConfigError('E_SHAPE_MISMATCH', `confusionFigure: expected a square, non-empty matrix, found ${k} rows of lengths ${confusion.map((x) => x.length).join(',')}`);
  }
  if (classNames.length !== k) {
    throw new ConfigError('E_BAD_ARGUMENT', `confusionFigure: ${classNames.length} class names for a ${k}x${k} matrix`, { hint: 'pass one name per class, in index order' });
  }
  const fs = opts.fontSize;
  const cell = opts.cellSize ?? Math.max(10, Math.min(72, Math.floor(640 / k)));
  const showCounts = cell >= 18;
  const countFs = Math.min(fs, Math.floor(cell * 0.36));
  const labelFs = Math.min(fs, Math.max(7, Math.floor(cell * 0.8)));
  const nameW = Math.max(...classNames.map((n) => textWidth(n, labelFs)));
  // Rotate column labels when they do not fit a cell's width.
  const rotate = nameW > cell - 4;
  const colLabelH = rotate ? nameW * Math.SQRT1_2 + labelFs : labelFs + 4;
  const titleH = opts.title ? fs + 3 + 14 : 0;
  const left = 10 + fs + 10 + nameW + 8;
  const top = 10 + titleH;
  const gridW = k * cell;
  const gridBottom = top + gridW;
  // Rotated labels reach left of their column by up to nameW/√2: keep them inside the figure.
  const width = Math.max(left + gridW + 16, opts.title ? textWidth(opts.title, fs + 3) + 20 : 0, textWidth('predicted class', fs) + left);
  const height = gridBottom + 8 + colLabelH + 8 + fs + 10;

  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${r1(width)}" height="${r1(height)}" fill="#ffffff"/>`);
  if (opts.title) {
    const tw = textWidth(opts.title, fs + 3);
    const tx = Math.min(Math.max(left + gridW / 2, tw / 2 + 10), width - tw / 2 - 10);
    parts.push(`<text x="${r1(tx)}" y="${r1(10 + fs + 3)}" font-size="${fs + 3}" font-weight="bold" text-anchor="middle">${escapeXml(opts.title)}</text>`);
  }
  const cells: string[] = [];
  for (let i = 0; i < k; i++) {
    const rowSum = confusion[i].reduce((s, v) => s + v, 0);
    for (let j = 0; j < k; j++) {
      const v = confusion[i][j];
      const frac = rowSum > 0 ? v / rowSum : 0;
      const x = left + j * cell;
      const y = top + i * cell;
      cells.push(
        `<rect class="cell" x="${r1(x)}" y="${r1(y)}" width="${cell}" height="${cell}" fill="${heatColor(frac)}" stroke="#fff" stroke-width="1">` +
          `<title>true ${escapeXml(classNames[i])}, predicted ${escapeXml(classNames[j])}: ${v} (${(frac * 100).toFixed(1)}% of row)</title></rect>`,
      );
      if (showCounts) {
        cells.push(`<text x="${r1(x + cell / 2)}" y="${r1(y + cell / 2 + countFs * 0.35)}" font-size="${countFs}" text-anchor="middle" fill="${heatTextColor(frac)}">${v}</text>`);
      }
    }
  }
  parts.push(`<g class="cells">${cells.join('')}</g>`);
  const labels: string[] = [];
  for (let i = 0; i < k; i++) {
    const cy = top + i * cell + cell / 2 + labelFs * 0.35;
    labels.push(`<text x="${r1(left - 8)}" y="${r1(cy)}" font-size="${labelFs}" text-anchor="end">${escapeXml(classNames[i])}</text>`);
    const cx = left + i * cell + cell / 2;
    if (rotate) {
      const ty = gridBottom + 8 + labelFs * 0.7;
      labels.push(`<text x="${r1(cx)}" y="${r1(ty)}" font-size="${labelFs}" text-anchor="end" transform="rotate(-45 ${r1(cx)} ${r1(ty)})">${escapeXml(classNames[i])}</text>`);
    } else {
      labels.push(`<text x="${r1(cx)}" y="${r1(gridBottom + 6 + labelFs)}" font-size="${labelFs}" text-anchor="middle">${escapeXml(classNames[i])}</text>`);
    }
  }
  parts.push(`<g class="labels" fill="#222">${labels.join('')}</g>`);
  parts.push(`<text x="${r1(left + gridW / 2)}" y="${r1(height - 10)}" font-size="${fs}" text-anchor="middle">predicted class</text>`);
  const ly = top + gridW / 2;
  parts.push(`<text x="${r1(10 + fs * 0.85)}" y="${r1(ly)}" font-size="${fs}" text-anchor="middle" transform="rotate(-90 ${r1(10 + fs * 0.85)} ${r1(ly)})">true class</text>`);
  return { width, height, body: `<g ${FONT} fill="#222">${parts.join('')}</g>` };
}

export function confusionSvg(confusion: ConfusionMatrix, classNames: string[], options?: ConfusionSvgOptions): string {
  return svgDocument(confusionFigure(confusion, classNames, options), { title: options?.title ?? 'Confusion matrix' });
}
