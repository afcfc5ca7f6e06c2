/** Renderings of a PredictResult for the terminal and for files: table, CSV, JSON. */
import { csvRow } from '../csv-row.js';
import type { Prediction, PredictResult } from './predict.js';

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;

/** `unknown` and `score`, for a model with an "unknown" threshold. */
const rejectionFields = (p: Prediction) => (p.unknown !== undefined ? { unknown: p.unknown, ...(p.score !== undefined ? { score: p.score } : {}) } : {});

/** Aligned columns: image, then `label probability` for each of the top k. */
export function formatPredictionsTable(result: PredictResult): string {
  const k = Math.max(0, ...result.predictions.map((p) => p.top.length));
  const header = ['image', ...Array.from({ length: k }, (_, i) => (k === 1 ? 'prediction' : `#${i + 1}`))];
  const rows = result.predictions.map((p) => [p.path, ...p.top.map((t, i) => (i === 0 && p.unknown ? `unknown (best guess ${t.label} ${pct(t.probability)})` : `${t.label} ${pct(t.probability)}`))]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const s of result.skipped) out.push(`skipped ${s.path}: ${s.reason}`);
  return `${out.join('\n')}\n`;
}

/**
 * One row per image and rank: path,rank,label,probability; with a model that has an "unknown"
 * threshold, also unknown (true/false, the image's answer, on each of its rows) and score.
 */
export function predictionsCsv(result: PredictResult): string {
  const rejection = result.model.rejection !== undefined;
  return predictionsCsvHeader(rejection) + predictionCsvRows(result.predictions, rejection);
}

/** One JSON document: model, classes, per-image top k, skipped files. */
export function predictionsJson(result: PredictResult): string {
  return `${JSON.stringify(
    {
      model: result.model.model,
      classes: result.classes,
      tta: result.tta,
      predictions: result.predictions.map((p) => ({ path: p.path, top: p.top.map((t) => ({ label: t.label, index: t.index, probability: t.probability })), ...rejectionFields(p) })),
      skipped: result.skipped,
    },
    null,
    2,
  )}\n`;
}

/** The CSV header of `predictionsCsv`, for writing rows as they come (`rejection`: the model has an "unknown" threshold). */
export function predictionsCsvHeader(rejection: boolean): string {
  return `${csvRow(['path', 'rank', 'label', 'probability', ...(rejection ? ['unknown', 'score'] : [])])}\n`;
}

/** `predictionsCsv`'s rows for some predictions (no header). */
export function predictionCsvRows(predictions: readonly Prediction[], rejection = false): string {
  let out = '';
  for (const p of predictions) {
    const extra = rejection ? [p.unknown === undefined ? '' : String(p.unknown), p.score === undefined ? '' : p.score.toPrecision(7)] : [];
    p.top.forEach((t, i) => (out += `${csvRow([p.path, i + 1, t.label, t.probability.toFixed(6), ...extra])}\n`));
  }
  return out;
}

/** One JSON object per line and image: {path, top: [{label, index, probability}]}. */
export function predictionJsonLines(predictions: readonly Prediction[]): string {
  let out = '';
  for (const p of predictions) out += `${JSON.stringify({ path: p.path, top: p.top.map((t) => ({ label: t.label, index: t.index, probability: t.probability })), ...rejectionFields(p) })}\n`;
  return out;
}
