/**
 * report.html: one self-contained file (inline SVG and CSS, images as data: URIs, no
 * scripts, no external assets) summarising a run: headline numbers, curves, best epoch,
 * timings, final val metrics (per-class table and a heat-mapped confusion matrix), the most
 * confidently wrong val images, the configuration and the class list.
 *
 * The markup is also well-formed XML, so tests (and tools) can parse it strictly.
 */
import { configRows } from './config-rows.js';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { bestEpoch, totalSeconds, type History } from '../metrics/history.js';
import type { ClassificationMetrics } from '../metrics/classification.js';
import { compareFigure, curvesFigure, formatDuration, type CompareRun } from './curves.js';
import { heatColor, heatTextColor } from './heat-color.js';
import { svgDocument } from './svg-plot.js';
import { escapeXml } from './xml-escape.js';
import { EXPLAIN_CSS, explainSections, type ReportExplanation } from './explain-sections.js';
import { trustSection, type ReportTrust } from './trust-section.js';

export interface ReportMistake {
  /** Path or name of the image, as the user knows it. */
  file: string;
  label: string;
  predicted: string;
  /** Probability the model gave the wrong class, in [0, 1]. */
  confidence: number;
  /** Encoded thumbnail (PNG, JPEG or WebP bytes), embedded as a data: URI. */
  image?: Uint8Array;
  mime?: 'image/png' | 'image/jpeg' | 'image/webp';
}

export interface HtmlReportInput {
  classes: string[];
  history: History;
  /** Resolved configuration (config.json); nested objects are shown with dotted keys. */
  config?: Record<string, unknown>;
  /** Final val metrics (of the restored best weights). */
  metrics?: ClassificationMetrics;
  /** Runs to overlay in the compare view. */
  compare?: CompareRun[];
  mistakes?: ReportMistake[];
  /** Extra timings in seconds, e.g. { "feature cache": 12.5, "total": 301 }. */
  timings?: Record<string, number>;
  /** Passed in (not read from the clock) so the output is reproducible. */
  generatedAt?: string;
  /** Sections that explain the model (src/report/explain-sections.ts). */
  explanation?: ReportExplanation;
  /** Calibration and "unknown" threshold (trust-section.ts). */
  trust?: ReportTrust;
}

const ReportOptionsSchema = z
  .object({
    title: z.string().min(1).default('headstart training report'),
    maxMistakes: z.number().int().min(0).max(500).default(24),
  })
  .strict();
export type HtmlReportOptions = z.input<typeof ReportOptionsSchema>;

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#222;margin:0;background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;flex:1 1 auto}
.card .v{font-size:20px;font-weight:bold;white-space:nowrap}
.card .k{font-size:12px;color:#666}
figure{margin:0;text-align:center;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;overflow-x:auto}
figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:0 0 12px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f0f2f5}
td.l,th.l{text-align:left}
table.cm td{min-width:36px;text-align:center}
table.cm th.corner{background:#fff;color:#666;font-weight:normal;font-size:11px}
.warn{color:#a15c00;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:10px}
.thumb{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;width:132px;font-size:11px;overflow-wrap:anywhere}
.thumb img{width:120px;height:120px;object-fit:contain;image-rendering:pixelated;background:#eee;display:block}
.best{background:#eef6ee}
code{font-size:12px}
ol.classes{columns:3;font-size:13px}
`;

function pct(v: number, digits = 1): string {
  return `${(v * 100).toFixed(digits)}%`;
}

/** Significant digits, trailing zeros dropped (timings, rates). */
function fmt(v: number, digits = 4): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v);
}

/** Fixed decimals (metrics and losses, so columns line up). */
function fix(v: number, decimals = 3): string {
  return Number.isFinite(v) ? v.toFixed(decimals) : String(v);
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A standalone SVG, labelled for screen readers, for inlining in HTML. */
function inlineSvg(svg: string, label: string): string {
  return svg.trimEnd().replace(/^<svg /, `<svg role="img" aria-label="${escapeXml(label)}" `);
}

function card(value: string, key: string): string {
  return `<div class="card"><div class="v">${escapeXml(value)}</div><div class="k">${escapeXml(key)}</div></div>`;
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function metricsSection(m: ClassificationMetrics, classes: string[]): string {
  const out: string[] = [];
  const a = m.accuracy;
  out.push(
    `<p>Accuracy <b>${pct(a.estimate, 2)}</b> (${a.correct} of ${a.total}), ${Math.round(a.confidence * 100)}% Wilson interval ` +
      `[${pct(a.lower, 1)}, ${pct(a.upper, 1)}]. Macro precision ${fix(m.macro.precision)}, recall ${fix(m.macro.recall)}, F1 ${fix(m.macro.f1)}.</p>`,
  );
  if (m.warnings.length) out.push(`<ul class="warn">${m.warnings.map((w) => `<li>${escapeXml(w)}</li>`).join('')}</ul>`);
  const rows = m.perClass.map((c) => {
    const p = c.precisionDefined ? fix(c.precision) : '0 †';
    const r = c.recallDefined ? fix(c.recall) : '0 †';
    return `<tr><td class="l">${escapeXml(classes[c.index] ?? c.name)}</td><td>${p}</td><td>${r}</td><td>${fix(c.f1)}</td><td>${c.support}</td><td>${c.predicted}</td></tr>`;
  });
  rows.push(`<tr><th class="l">macro average</th><th>${fix(m.macro.precision)}</th><th>${fix(m.macro.recall)}</th><th>${fix(m.macro.f1)}</th><th>${a.total}</th><th>${a.total}</th></tr>`);
  out.push(
    `<h3>Per class</h3><table class="per-class"><thead><tr><th class="l">class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th><th>predicted</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
  );
  if (m.perClass.some((c) => !c.precisionDefined || !c.recallDefined)) {
    out.push('<p class="warn">† undefined (class never predicted, or no samples): reported as 0.</p>');
  }
  // Heat-mapped confusion table: shade = share of the true class's row.
  const head = classes.map((c) => `<th>${escapeXml(c)}</th>`).join('');
  const body = m.confusion
    .map((row, i) => {
      const sum = row.reduce((s, v) => s + v, 0);
      const tds = row
        .map((v, j) => {
          const f = sum > 0 ? v / sum : 0;
          return `<td style="background:${heatColor(f)};color:${heatTextColor(f)}" title="${escapeXml(`true ${classes[i]}, predicted ${classes[j]}: ${pct(f)} of row`)}">${v}</td>`;
        })
        .join('');
      return `<tr><th class="l">${escapeXml(classes[i])}</th>${tds}<td>${sum}</td></tr>`;
    })
    .join('');
  out.push(
    `<h3>Confusion matrix</h3><p class="sub">Rows: true class. Columns: predicted class. Shade: share of the row.</p>` +
      `<table class="cm"><thead><tr><th class="corner">true \\ predicted</th>${head}<th>total</th></tr></thead><tbody>${body}</tbody></table>`,
  );
  return out.join('\n');
}

/** The report as one HTML string. */
export function renderHtmlReport(input: HtmlReportInput, options?: HtmlReportOptions): string {
  const opts = parseOrThrow(ReportOptionsSchema, options ?? {}, 'renderHtmlReport: invalid options');
  const { classes, history, metrics } = input;
  if (!Array.isArray(classes) || classes.length === 0) {
    throw new ConfigError('E_BAD_ARGUMENT', 'renderHtmlReport: classes must list at least one class name, found none');
  }
  if (metrics && metrics.numClasses !== classes.length) {
    throw new ConfigError('E_BAD_ARGUMENT', `renderHtmlReport: metrics cover ${metrics.numClasses} classes but ${classes.length} class names were given`, {
      hint: 'pass the class list the metrics were computed with',
    });
  }
  const best = bestEpoch(history);
  const trainSeconds = totalSeconds(history);
  const s: string[] = [];
  s.push('<!DOCTYPE html>');
  s.push('<html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/>');
  s.push(`<title>${escapeXml(opts.title)}</title><style>${CSS}${input.explanation ? EXPLAIN_CSS : ''}</style></head><body><main>`);
  s.push(`<h1>${escapeXml(opts.title)}</h1>`);
  const sub = [history.name, input.generatedAt ? `generated ${input.generatedAt}` : undefined].filter(Boolean).join(' · ');
  if (sub) s.push(`<p class="sub">${escapeXml(sub)}</p>`);

  // Headline numbers.
  const cards: string[] = [];
  if (best) cards.push(card(pct(best.val_acc, 2), `best val accuracy (epoch ${best.epoch})`));
  if (metrics) {
    cards.push(card(`${pct(metrics.accuracy.lower, 1)} – ${pct(metrics.accuracy.upper, 1)}`, `${Math.round(metrics.accuracy.confidence * 100)}% interval, ${metrics.accuracy.total} val images`));
    cards.push(card(fix(metrics.macro.f1), 'macro F1'));
  }
  cards.push(card(String(history.epochs.length), 'epochs'));
  cards.push(card(formatDuration(input.timings?.total ?? trainSeconds), 'total time'));
  cards.push(card(String(classes.length), 'classes'));
  s.push(`<div class="cards">${cards.join('')}</div>`);

  if (history.epochs.length) {
    s.push('<h2>Curves</h2>');
    s.push(`<figure>${inlineSvg(svgDocument(curvesFigure(history)), 'loss and accuracy per epoch')}</figure>`);
  }
  if (input.compare && input.compare.length) {
    s.push('<h2>Comparison</h2>');
    s.push(`<figure>${inlineSvg(svgDocument(compareFigure(input.compare)), 'runs compared')}</figure>`);
    const rows = input.compare.map((run) => {
      const b = bestEpoch(run.history);
      const secs = run.seconds ?? totalSeconds(run.history);
      return `<tr><td class="l">${escapeXml(run.name)}</td><td>${b ? pct(b.val_acc, 2) : '-'}</td><td>${b ? b.epoch : '-'}</td><td>${run.history.epochs.length}</td><td>${escapeXml(formatDuration(secs))}</td><td>${run.history.epochs.length ? fmt(secs / run.history.epochs.length, 3) : '-'}</td></tr>`;
    });
    s.push(`<table><thead><tr><th class="l">run</th><th>best val acc</th><th>best epoch</th><th>epochs</th><th>time</th><th>s / epoch</th></tr></thead><tbody>${rows.join('')}</tbody></table>`);
  }

  // Per-epoch table with timings; the best epoch highlighted.
  s.push('<h2>Epochs and timings</h2>');
  const timingRows: Array<[string, string]> = history.epochs.length
    ? [
        ['training time (sum of epochs)', formatDuration(trainSeconds)],
        ['seconds per epoch (median)', fmt(median(history.epochs.map((e) => e.seconds)), 3)],
        ['train images/s (median)', fmt(median(history.epochs.map((e) => e.images_per_s)), 3)],
      ]
    : [['epochs recorded', 'none']];
  for (const [k, v] of Object.entries(input.timings ?? {})) timingRows.push([k, formatDuration(v)]);
  s.push(`<table class="timings"><tbody>${timingRows.map(([k, v]) => `<tr><td class="l">${escapeXml(k)}</td><td>${escapeXml(v)}</td></tr>`).join('')}</tbody></table>`);
  const epochRows = history.epochs.map(
    (e) =>
      `<tr${best && e.epoch === best.epoch ? ' class="best"' : ''}><td>${e.epoch}</td><td>${fix(e.train_loss, 4)}</td><td>${pct(e.train_acc, 2)}</td><td>${fix(e.val_loss, 4)}</td><td>${pct(e.val_acc, 2)}</td><td>${fmt(e.lr, 3)}</td><td>${fmt(e.seconds, 3)}</td><td>${fmt(e.images_per_s, 3)}</td></tr>`,
  );
  s.push(
    `<table class="epochs"><thead><tr><th>epoch</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val acc</th><th>lr</th><th>seconds</th><th>images/s</th></tr></thead><tbody>${epochRows.join('')}</tbody></table>`,
  );
  if (best) s.push(`<p class="sub">Best val accuracy at epoch ${best.epoch} (highlighted); its weights are the ones kept.</p>`);

  if (metrics) {
    s.push('<h2>Final validation metrics</h2>');
    s.push(metricsSection(metrics, classes));
  }

  if (input.trust) s.push(trustSection(input.trust));

  const mistakes = (input.mistakes ?? []).slice(0, opts.maxMistakes);
  if (mistakes.length) {
    s.push('<h2>Most confidently wrong val images</h2><div class="grid">');
    for (const m of mistakes) {
      const img = m.image ? `<img alt="${escapeXml(m.file)}" src="data:${m.mime ?? 'image/png'};base64,${base64(m.image)}"/>` : '';
      s.push(`<div class="thumb">${img}<div><b>${escapeXml(m.predicted)}</b> ${pct(m.confidence, 1)}</div><div>true: ${escapeXml(m.label)}</div><div><code>${escapeXml(m.file)}</code></div></div>`);
    }
    s.push('</div>');
  }

  if (input.explanation) s.push(explainSections(input.explanation));

  if (input.config && Object.keys(input.config).length) {
    const rows = configRows(input.config);
    s.push('<h2>Configuration</h2>');
    s.push(`<table class="config"><tbody>${rows.map(([k, v]) => `<tr><td class="l">${escapeXml(k)}</td><td class="l">${escapeXml(v)}</td></tr>`).join('')}</tbody></table>`);
  }

  s.push(`<h2>Classes (${classes.length})</h2>`);
  s.push(`<ol class="classes" start="0">${classes.map((c) => `<li>${escapeXml(c)}</li>`).join('')}</ol>`);
  s.push('</main></body></html>');
  return s.join('\n') + '\n';
}
