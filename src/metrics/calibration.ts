/**
 * Calibration of a classifier's probabilities: temperature scaling (one scalar T, the
 * logits divided by it before the softmax, fitted by minimising the negative log-likelihood
 * of a held-out split), the expected calibration error over equal-width confidence bins, and
 * the bins themselves (a reliability diagram). Pure functions on row-major [N, k] logits.
 */
import { ConfigError } from '../errors.js';
import { argmaxRow, logSumExpRow } from './classification.js';

/** Search range of the temperature: outside it a fit says more about the split than the model. */
export const TEMPERATURE_RANGE = [0.05, 20] as const;
const ECE_BINS = 15;

function rows(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, where: string): number {
  if (k < 1 || logits.length !== labels.length * k) {
    throw new ConfigError('E_BAD_ARGUMENT', `${where}: ${logits.length} logits for ${labels.length} labels and ${k} classes, expected ${labels.length * k}`, {
      hint: 'pass row-major [N, k] logits with one label per row',
    });
  }
  return labels.length;
}

/** Mean negative log-likelihood of the labels under softmax(logits / T). */
export function nllAt(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, temperature = 1): number {
  const n = rows(logits, labels, k, 'nllAt');
  if (n === 0) return NaN;
  const row = new Float64Array(k);
  let sum = 0;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) row[c] = logits[r * k + c] / temperature;
    sum += logSumExpRow(row, 0, k) - row[labels[r]];
  }
  return sum / n;
}

/**
 * The temperature that minimises the NLL. The NLL is convex in 1/T, so it is unimodal along
 * log T and a golden-section search over TEMPERATURE_RANGE finds its minimum (to 1e-6 in log T).
 */
export function fitTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  const n = rows(logits, labels, k, 'fitTemperature');
  if (n === 0) return 1;
  const f = (u: number) => nllAt(logits, labels, k, Math.exp(u));
  let a = Math.log(TEMPERATURE_RANGE[0]);
  let b = Math.log(TEMPERATURE_RANGE[1]);
  const phi = (Math.sqrt(5) - 1) / 2;
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = f(c);
  let fd = f(d);
  while (b - a > 1e-6) {
    if (fc <= fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - phi * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + phi * (b - a);
      fd = f(d);
    }
  }
  return Math.exp((a + b) / 2);
}

export interface ReliabilityBin {
  /** Confidence range [lower, upper) (the last bin includes 1). */
  lower: number;
  upper: number;
  count: number;
  /** Mean top-1 probability of the bin's images (NaN when empty). */
  confidence: number;
  /** Fraction of the bin's images whose top-1 class is right (NaN when empty). */
  accuracy: number;
}

export interface CalibrationSummary {
  /** Expected calibration error: sum over bins of (count / N) * |accuracy - confidence|. */
  ece: number;
  nll: number;
  bins: ReliabilityBin[];
}

/** ECE, NLL and the reliability bins of softmax(logits / T). */
export function calibrationSummary(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number, temperature = 1, numBins = ECE_BINS): CalibrationSummary {
  const n = rows(logits, labels, k, 'calibrationSummary');
  const count = new Float64Array(numBins);
  const conf = new Float64Array(numBins);
  const correct = new Float64Array(numBins);
  const row = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) row[c] = logits[r * k + c] / temperature;
    const top = argmaxRow(row, 0, k);
    const p = Math.exp(row[top] - logSumExpRow(row, 0, k));
    const bin = Math.min(numBins - 1, Math.floor(p * numBins));
    count[bin]++;
    conf[bin] += p;
    if (top === labels[r]) correct[bin]++;
  }
  let ece = 0;
  const bins: ReliabilityBin[] = [];
  for (let i = 0; i < numBins; i++) {
    const m = count[i];
    bins.push({ lower: i / numBins, upper: (i + 1) / numBins, count: m, confidence: m ? conf[i] / m : NaN, accuracy: m ? correct[i] / m : NaN });
    if (m) ece += (m / n) * Math.abs(correct[i] / m - conf[i] / m);
  }
  return { ece: n ? ece : NaN, nll: nllAt(logits, labels, k, temperature), bins };
}

export interface TemperatureCalibration {
  temperature: number;
  images: number;
  before: CalibrationSummary;
  after: CalibrationSummary;
}

/** Fits the temperature on (logits, labels) and summarises the calibration before and after. */
export function calibrateTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, k: number): TemperatureCalibration {
  const temperature = fitTemperature(logits, labels, k);
  return { temperature, images: labels.length, before: calibrationSummary(logits, labels, k, 1), after: calibrationSummary(logits, labels, k, temperature) };
}
