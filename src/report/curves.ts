/**
 * Loss and accuracy curves of training runs (curves.svg): one run with train and val per
 * epoch, or the `compare` view — several runs (fine-tuning vs feature extraction) on one set
 * of axes, colour per run and dash per phase, as in the PyTorch transfer-learning tutorial.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { bestEpoch, totalSeconds, type History } from '../metrics/history.js';
import { lineChart, PALETTE, sideBySide, svgDocument, type Series, type SvgFigure } from './svg-plot.js';

const CurvesOptionsSchema = z
  .object({
    title: z.string().optional(),
    /** Width of each of the two panels. */
    panelWidth: z.number().min(200).max(2000).default(480),
    panelHeight: z.number().min(160).max(2000).default(340),
  })
  .strict();
export type CurvesOptions = z.input<typeof CurvesOptionsSchema>;

export interface CompareRun {
  name: string;
  history: History;
  /** Wall time of the whole run; defaults to the sum of epoch times. */
  seconds?: number;
}

function parseOptions(value: unknown, where: string): z.output<typeof CurvesOptionsSchema> {
  return parseOrThrow(CurvesOptionsSchema, value ?? {}, `${where}: invalid options`);
}

/** "42 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

function panels(runs: CompareRun[], opts: z.output<typeof CurvesOptionsSchema>, single: boolean): SvgFigure[] {
  const loss: Series[] = [];
  const acc: Series[] = [];
  runs.forEach((run, r) => {
    const epochs = run.history.epochs.map((e) => e.epoch);
    const best = bestEpoch(run.history);
    const bestIndex = best ? run.history.epochs.indexOf(best) : undefined;
    // One run: colour tells train from val. Several: colour is the run, dash is the phase.
    const trainColor = single ? PALETTE[0] : PALETTE[r % PALETTE.length];
    const valColor = single ? PALETTE[1] : trainColor;
    const prefix = single ? '' : `${run.name} `;
    for (const [list, key, label] of [
      [loss, 'loss', 'loss'],
      [acc, 'acc', 'accuracy'],
    ] as const) {
      void label;
      list.push({
        name: `${prefix}train`,
        x: epochs,
        y: run.history.epochs.map((e) => (key === 'loss' ? e.train_loss : e.train_acc)),
        color: trainColor,
        dash: 'dashed',
        marker: single ? 'square' : (['square', 'triangle'] as const)[r % 2],
      });
      list.push({
        name: `${prefix}val`,
        x: epochs,
        y: run.history.epochs.map((e) => (key === 'loss' ? e.val_loss : e.val_acc)),
        color: valColor,
        dash: 'solid',
        marker: single ? 'circle' : (['circle', 'diamond'] as const)[r % 2],
        ...(key === 'acc' && bestIndex !== undefined && bestIndex >= 0 ? { highlight: bestIndex } : {}),
      });
    }
  });
  const best = single ? bestEpoch(runs[0].history) : undefined;
  const annotations = best ? [{ x: best.epoch, label: `best val: epoch ${best.epoch}` }] : [];
  const common = { width: opts.panelWidth, height: opts.panelHeight, xLabel: 'epoch', xInteger: true, annotations };
  return [
    // Several runs: one legend (on the accuracy panel), not the same legend twice.
    lineChart(loss, { ...common, title: 'Loss', yLabel: 'cross-entropy loss', yInclude: [0], ...(single ? {} : { legend: 'none' as const }) }),
    lineChart(acc, { ...common, title: 'Accuracy', yLabel: 'accuracy', yInclude: [1], yBounds: [0, 1] }),
  ];
}

function checkRuns(runs: CompareRun[], where: string): void {
  if (runs.length === 0) throw new ConfigError('E_BAD_ARGUMENT', `${where}: expected at least one run, found none`);
  for (const r of runs) {
    if (r.history.epochs.length === 0) {
      throw new ConfigError('E_NO_DATA', `${where}: run '${r.name}' has no recorded epochs`, { hint: 'plot after at least one epoch has finished' });
    }
  }
}

/** Loss and accuracy panels for one run, train and val per epoch. */
export function curvesFigure(history: History, options?: CurvesOptions): SvgFigure {
  const opts = parseOptions(options, 'curvesFigure');
  checkRuns([{ name: history.name ?? 'run', history }], 'curvesFigure');
  const title = opts.title ?? (history.name ? `Training curves: ${history.name}` : 'Training curves');
  return sideBySide(panels([{ name: history.name ?? 'run', history }], opts, true), { title });
}

/** Several runs on shared loss and accuracy axes, their wall times in the title. */
export function compareFigure(runs: CompareRun[], options?: CurvesOptions): SvgFigure {
  const opts = parseOptions(options, 'compareFigure');
  checkRuns(runs, 'compareFigure');
  const times = runs.map((r) => `${r.name} ${formatDuration(r.seconds ?? totalSeconds(r.history))}`).join(' vs ');
  return sideBySide(panels(runs, opts, false), { title: opts.title ?? times });
}

export function curvesSvg(history: History, options?: CurvesOptions): string {
  return svgDocument(curvesFigure(history, options), { title: 'Training curves' });
}

export function compareSvg(runs: CompareRun[], options?: CurvesOptions): string {
  return svgDocument(compareFigure(runs, options), { title: 'Comparison of training runs' });
}
