/**
 * compare.html: one self-contained page (inline SVG and CSS, no scripts) for `headstart
 * compare`: the verdict, both modes on every card, chart and table (accuracy over the seeds
 * with its 95% interval, cold time, the paired test, per-epoch values side by side, the
 * learning curve), and a link to each run's own report.html.
 */
import type { MeanInterval } from '../metrics/paired-test.js';
import type { History } from '../metrics/history.js';
import { bestEpoch } from '../metrics/history.js';
import { compareFigure, formatDuration, type CompareRun } from './curves.js';
import { lineChart, PALETTE, svgDocument } from './svg-plot.js';
import { escapeXml } from './xml-escape.js';

export interface CompareReportMode {
  name: string;
  accuracy: MeanInterval;
  seconds: MeanInterval;
  coldSeconds: number;
  extraction?: { seconds: number; hit: boolean };
  runs: Array<{ seed: number; bestValAcc: number; bestEpoch: number; seconds: number; report: string; history: History }>;
}

export interface CompareReportInput {
  model: string;
  dataRoot: string;
  epochs: number;
  recipe: string;
  verdict: string;
  /** Fine-tuning first, then feature extraction. */
  modes: CompareReportMode[];
  paired: {
    onlyFirst: number;
    onlySecond: number;
    bothRight: number;
    bothWrong: number;
    p: number;
    rule: string;
    images: number;
    perSeed: Array<{ seed: number; p: number; onlyFinetune: number; onlyFeatures: number }>;
  };
  curve: { points: Array<{ fraction: number; trainImages: number; finetune: MeanInterval; features: MeanInterval }>; summary: string } | null;
  /** The first seed's runs, for the loss and accuracy curves. */
  curves: CompareRun[];
  generatedAt?: string;
}

const CSS = `
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#222;margin:0;background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;font-size:13px;margin:0 0 16px}
.verdict{font-size:17px;background:#fff;border-left:4px solid #0072B2;padding:10px 14px;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.mode{flex:1 1 300px;display:flex;flex-direction:column;gap:8px}
.mode h3{margin:0;font-size:15px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px}
.card .v{font-size:20px;font-weight:bold;white-space:nowrap}
.card .k{font-size:12px;color:#666}
figure{margin:0 0 12px;text-align:center;background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;overflow-x:auto}
figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:0 0 12px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f0f2f5}
td.l,th.l{text-align:left}
.best{background:#eef6ee}
`;

const pct = (v: number, d = 1) => `${(100 * v).toFixed(d)}%`;
const interval = (m: MeanInterval) => (m.n > 1 ? `${pct(m.mean)} [${pct(m.lower)}, ${pct(m.upper)}]` : pct(m.mean));
const pValue = (p: number) => (p < 0.001 ? '< 0.001' : p.toFixed(p < 0.01 ? 4 : 3));
const card = (value: string, key: string) => `<div class="card"><div class="v">${escapeXml(value)}</div><div class="k">${escapeXml(key)}</div></div>`;
const svgInline = (svg: string, label: string) => svg.trimEnd().replace(/^<svg /, `<svg role="img" aria-label="${escapeXml(label)}" `);
const row = (cells: string[], cls = '') => `<tr${cls ? ` class="${cls}"` : ''}>${cells.join('')}</tr>`;
const td = (v: string, left = false) => `<td${left ? ' class="l"' : ''}>${v}</td>`;

export function renderCompareReport(input: CompareReportInput): string {
  const s: string[] = [];
  const seeds = input.modes[0].runs.length;
  s.push(`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"/><title>${escapeXml(`headstart compare: ${input.model}`)}</title><style>${CSS}</style></head><body><main>`);
  s.push(`<h1>${escapeXml(`headstart compare: ${input.model}`)}</h1>`);
  const sub = [input.dataRoot, `${input.epochs} epochs`, `recipe ${input.recipe}`, `${seeds} seed${seeds === 1 ? '' : 's'}`, input.generatedAt ? `generated ${input.generatedAt}` : '']
    .filter(Boolean)
    .join(' · ');
  s.push(`<p class="sub">${escapeXml(sub)}</p>`);
  s.push(`<p class="verdict">${escapeXml(input.verdict)}</p>`);

  // Both modes on every card.
  s.push('<div class="cards">');
  for (const m of input.modes) {
    const cold = m.extraction
      ? m.extraction.hit
        ? `first run; its features came from the cache (extraction not included)`
        : `first run, cold: ${formatDuration(m.extraction.seconds)} of it computing the features`
      : 'first run';
    const later = m.runs.length > 1 ? card(formatDuration(m.seconds.mean), `mean time per run over ${m.runs.length} seeds${m.extraction ? ' (later seeds reuse the features)' : ''}`) : '';
    s.push(
      `<div class="mode"><h3>${escapeXml(m.name)}</h3>${card(interval(m.accuracy), m.accuracy.n > 1 ? `best val accuracy, mean of ${m.accuracy.n} seeds [95% interval]` : 'best val accuracy (one seed)')}${card(formatDuration(m.coldSeconds), `time: ${cold}`)}${later}</div>`,
    );
  }
  s.push('</div>');

  s.push('<h2>Curves (first seed)</h2>');
  s.push(`<figure>${svgInline(svgDocument(compareFigure(input.curves)), 'loss and accuracy per epoch of both modes')}</figure>`);

  s.push('<h2>Runs</h2>');
  const runRows = input.modes.flatMap((m) =>
    m.runs.map((r) =>
      row([
        td(escapeXml(m.name), true),
        td(String(r.seed)),
        td(pct(r.bestValAcc, 2)),
        td(String(r.bestEpoch)),
        td(escapeXml(formatDuration(r.seconds))),
        td(`<a href="${escapeXml(r.report)}">report</a>`, true),
      ]),
    ),
  );
  s.push(`<table><thead><tr><th class="l">mode</th><th>seed</th><th>best val acc</th><th>best epoch</th><th>time</th><th class="l">report</th></tr></thead><tbody>${runRows.join('')}</tbody></table>`);

  const p = input.paired;
  const [a, b] = input.modes.map((m) => m.name);
  s.push("<h2>Paired test (McNemar's exact test, the same val images)</h2>");
  s.push(
    `<table><tbody>${[
      [`right only with ${a}`, String(p.onlyFirst)],
      [`right only with ${b}`, String(p.onlySecond)],
      ['right with both', String(p.bothRight)],
      ['wrong with both', String(p.bothWrong)],
      ['images', String(p.images)],
      ['p (two-sided)', pValue(p.p)],
    ]
      .map(([k, v]) => row([td(escapeXml(k), true), td(v)]))
      .join('')}</tbody></table>`,
  );
  s.push(
    `<p class="sub">${escapeXml(`${p.rule}. Only the images one mode gets right and the other wrong carry information; p is the chance of a split at least this uneven if both modes were equally accurate.`)}</p>`,
  );
  if (p.perSeed.length > 1) {
    s.push(
      `<table><thead><tr><th>seed</th><th>right only with ${escapeXml(a)}</th><th>right only with ${escapeXml(b)}</th><th>p</th></tr></thead><tbody>${p.perSeed.map((x) => row([td(String(x.seed)), td(String(x.onlyFinetune)), td(String(x.onlyFeatures)), td(pValue(x.p))])).join('')}</tbody></table>`,
    );
  }

  s.push('<h2>Epochs (first seed)</h2>');
  const [h0, h1] = input.modes.map((m) => m.runs[0].history);
  const n = Math.max(h0.epochs.length, h1.epochs.length);
  const best = [bestEpoch(h0)?.epoch, bestEpoch(h1)?.epoch];
  const cells = (h: History, i: number, k: number) => {
    const e = h.epochs[i];
    if (!e) return ['', '', '', '', ''].map((v) => td(v));
    const mark = best[k] === e.epoch ? ' class="best"' : '';
    return [e.train_loss.toFixed(4), pct(e.train_acc, 2), e.val_loss.toFixed(4), pct(e.val_acc, 2), formatDuration(e.seconds)].map((v) => `<td${mark}>${escapeXml(v)}</td>`);
  };
  const head = (name: string) => `<th colspan="5">${escapeXml(name)}</th>`;
  const sub5 = '<th>train loss</th><th>train acc</th><th>val loss</th><th>val acc</th><th>time</th>';
  s.push(
    `<table><thead><tr><th></th>${head(a)}${head(b)}</tr><tr><th>epoch</th>${sub5}${sub5}</tr></thead><tbody>${Array.from({ length: n }, (_, i) => row([td(String(i + 1)), ...cells(h0, i, 0), ...cells(h1, i, 1)])).join('')}</tbody></table>`,
  );
  s.push('<p class="sub">Each mode keeps the weights of its best val epoch (highlighted).</p>');

  if (input.curve) {
    const c = input.curve;
    s.push('<h2>Learning curve</h2>');
    const series = input.modes.map((m, k) => ({
      name: m.name,
      x: c.points.map((q) => q.trainImages),
      y: c.points.map((q) => (k === 0 ? q.finetune : q.features).mean),
      color: PALETTE[k],
      marker: (['square', 'circle'] as const)[k],
    }));
    s.push(
      `<figure>${svgInline(svgDocument(lineChart(series, { title: 'Best val accuracy against training images', xLabel: 'training images', yLabel: 'val accuracy', yBounds: [0, 1], xInteger: true })), 'learning curve')}</figure>`,
    );
    s.push(
      `<table><thead><tr><th>fraction</th><th>training images</th><th>${escapeXml(a)}</th><th>${escapeXml(b)}</th></tr></thead><tbody>${c.points.map((q) => row([td(String(q.fraction)), td(String(q.trainImages)), td(interval(q.finetune)), td(interval(q.features))])).join('')}</tbody></table>`,
    );
    s.push(`<p>${escapeXml(c.summary)}</p>`);
  }
  s.push('</main></body></html>');
  return s.join('\n') + '\n';
}
