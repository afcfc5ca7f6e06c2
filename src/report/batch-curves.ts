/**
 * The learning rate and the training loss per batch (fastai's recorder plots): x in epochs
 * (epoch - 1 + batch / batches), the raw batch loss and its smoothed trend (an exponential
 * moving average with beta 0.98, debiased as fastai's), and the learning rate of each step.
 */
import { ConfigError } from '../errors.js';
import { lineChart, sideBySide, type SvgFigure } from './svg-plot.js';

export interface BatchPoint {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  lr: number;
}

/** fastai's smoothed loss: EMA with beta, divided by 1 - beta^(i+1). */
export function smoothLoss(losses: readonly number[], beta = 0.98): number[] {
  let avg = 0;
  return losses.map((l, i) => {
    avg = beta * avg + (1 - beta) * l;
    return avg / (1 - beta ** (i + 1));
  });
}

export function batchCurvesFigure(points: readonly BatchPoint[]): SvgFigure {
  if (points.length === 0) throw new ConfigError('E_NO_DATA', 'batchCurvesFigure: no training batches recorded', { hint: 'plot after at least one training step' });
  const x = points.map((p) => p.epoch - 1 + p.batch / p.batches);
  const losses = points.map((p) => p.loss);
  const lrs = points.map((p) => p.lr);
  const maxLr = Math.max(...lrs);
  const common = { width: 520, height: 320, xLabel: 'epoch', markers: false as const };
  return sideBySide(
    [
      lineChart(
        [
          { name: 'batch loss', x, y: losses, color: '#56B4E9' },
          { name: 'smoothed (EMA 0.98)', x, y: smoothLoss(losses), color: '#D55E00' },
        ],
        { ...common, title: 'Training loss per batch', yLabel: 'cross-entropy loss', yInclude: [0] },
      ),
      lineChart([{ name: 'learning rate', x, y: lrs, color: '#0072B2' }], {
        ...common,
        title: 'Learning rate per batch',
        yLabel: 'learning rate',
        yInclude: [0],
        ...(maxLr > 0 ? { yBounds: [0, maxLr * 1.1] as [number, number] } : {}),
        legend: 'none',
      }),
    ],
    { title: 'Per batch' },
  );
}
