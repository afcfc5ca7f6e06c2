/**
 * The plot of a learning-rate range test (headstart lr-find): the smoothed loss against
 * log10 of the learning rate, each suggestion a marked point on the curve named with its
 * value in the legend (fastai's plot_lr_find).
 */
import { lineChartSvg, PALETTE, type Marker } from './svg-plot.js';

export interface LrFindPlotInput {
  lrs: readonly number[];
  smoothed: readonly number[];
  suggestions: readonly { name: string; lr: number; loss: number }[];
}

const LABELS: Record<string, string> = { valley: 'valley', steep: 'steep', minimum: 'minimum/10' };
const MARKS: Marker[] = ['circle', 'square', 'diamond', 'triangle'];

export function lrFindSvg(r: LrFindPlotInput, title = 'Learning-rate finder'): string {
  const x = r.lrs.map((lr) => Math.log10(lr));
  return lineChartSvg(
    [
      { name: 'smoothed training loss', x, y: [...r.smoothed], marker: 'none', color: PALETTE[0] },
      ...r.suggestions.map((s, i) => ({
        name: `${LABELS[s.name] ?? s.name}: ${s.lr.toExponential(1)}`,
        x: [Math.log10(s.lr)],
        y: [s.loss],
        marker: MARKS[i % MARKS.length],
        color: PALETTE[(i + 1) % PALETTE.length],
      })),
    ],
    { title, xLabel: 'learning rate (log10)', yLabel: 'smoothed loss', markers: true },
  );
}
