/**
 * The reliability diagram of a calibration: per confidence bin, the accuracy of the images
 * against their mean top-1 probability, before and after temperature scaling, with the
 * diagonal of perfect calibration. ECE and the temperature are in the legend.
 */
import type { TemperatureCalibration, ReliabilityBin } from '../metrics/calibration.js';
import { lineChart, PALETTE, svgDocument, type SvgFigure } from './svg-plot.js';

function points(bins: readonly ReliabilityBin[]): { x: number[]; y: number[] } {
  const used = bins.filter((b) => b.count > 0);
  return { x: used.map((b) => b.confidence), y: used.map((b) => b.accuracy) };
}

export function reliabilityFigure(c: TemperatureCalibration): SvgFigure {
  const before = points(c.before.bins);
  const after = points(c.after.bins);
  return lineChart(
    [
      { name: 'perfect calibration', x: [0, 1], y: [0, 1], color: '#888888', dash: 'dashed', marker: 'none' },
      { name: `before (T = 1, ECE ${c.before.ece.toFixed(3)})`, ...before, color: PALETTE[3], marker: 'square' },
      { name: `after (T = ${c.temperature.toFixed(3)}, ECE ${c.after.ece.toFixed(3)})`, ...after, color: PALETTE[0], marker: 'circle' },
    ],
    {
      title: `Reliability on ${c.images} val images (${c.before.bins.length} bins)`,
      xLabel: 'confidence (top-1 probability)',
      yLabel: 'accuracy',
      yInclude: [0, 1],
      yBounds: [0, 1],
      markers: true,
      legend: 'below',
    },
  );
}

export function reliabilitySvg(c: TemperatureCalibration): string {
  return svgDocument(reliabilityFigure(c));
}
