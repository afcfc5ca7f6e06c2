/**
 * Classification metrics: confusion matrix, accuracy with its Wilson interval, per-class
 * precision/recall/F1, macro averages, top-k accuracy and softmax. Pure functions over
 * plain arrays; input is checked here (the boundary) and every failure is a DataError or
 * ConfigError that names the argument.
 *
 * Conventions: a confusion matrix is indexed [true class][predicted class]; logits are a
 * row-major [N, C] batch; ties in logits rank the lower class index first (as argmax does).
 */
import { z } from 'zod';
import { ConfigError, DataError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';

/** Class indices: plain numbers, or the int64/int32 arrays that ONNX Runtime returns. */
export type ClassIndices = ArrayLike<number> | BigInt64Array;

/** Counts indexed [true][predicted]. */
export type ConfusionMatrix = number[][];

export interface WilsonInterval {
  /** Observed proportion successes / total. */
  estimate: number;
  lower: number;
  upper: number;
  /** Confidence level, e.g. 0.95. */
  confidence: number;
}

export interface AccuracyResult extends WilsonInterval {
  correct: number;
  total: number;
}

export interface ClassMetrics {
  /** Class index. */
  index: number;
  /** Class name when names were given, else the index as a string. */
  name: string;
  precision: number;
  recall: number;
  f1: number;
  /** Number of samples whose true class is this one. */
  support: number;
  /** Number of samples predicted as this class. */
  predicted: number;
  /** False when the class was never predicted: precision is then reported as 0. */
  precisionDefined: boolean;
  /** False when the class has no true samples: recall is then reported as 0. */
  recallDefined: boolean;
}

export interface MacroAverages {
  precision: number;
  recall: number;
  f1: number;
}

export interface ClassificationMetrics {
  numClasses: number;
  accuracy: AccuracyResult;
  confusion: ConfusionMatrix;
  perClass: ClassMetrics[];
  /** Unweighted means over all classes (undefined precision/recall count as 0, as sklearn does). */
  macro: MacroAverages;
  /** Means weighted by support. */
  weighted: MacroAverages;
  /** Human-readable notes about undefined values (never-predicted or absent classes). */
  warnings: string[];
}

function checkNumClasses(numClasses: number, where: string): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new ConfigError('E_BAD_ARGUMENT', `${where}: numClasses must be a positive integer, found ${numClasses}`, {
      hint: 'pass the number of classes of the dataset (at least 1)',
    });
  }
}

function toIndices(values: ClassIndices, name: string, numClasses: number, where: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < 0 || v >= numClasses) {
      throw new DataError('E_BAD_ARGUMENT', `${where}: ${name}[${i}] must be a class index in [0, ${numClasses - 1}], found ${String(values[i])}`, {
        hint: `check that ${name} and numClasses (${numClasses}) refer to the same class list`,
      });
    }
    out[i] = v;
  }
  return out;
}

function checkPair(labels: ClassIndices, predictions: ClassIndices, where: string): void {
  if (labels.length === 0) {
    throw new DataError('E_NO_DATA', `${where}: no samples (labels and predictions are empty)`, {
      hint: 'metrics need at least one labelled sample; check that the validation folder holds images',
    });
  }
  if (labels.length !== predictions.length) {
    throw new DataError('E_SHAPE_MISMATCH', `${where}: labels and predictions must have the same length, found ${labels.length} labels and ${predictions.length} predictions`, {
      hint: 'pass one prediction per labelled sample',
    });
  }
}

/** Confusion matrix, counts indexed [true][predicted]. */
export function confusionMatrix(labels: ClassIndices, predictions: ClassIndices, numClasses: number): ConfusionMatrix {
  const where = 'confusionMatrix';
  checkNumClasses(numClasses, where);
  checkPair(labels, predictions, where);
  const y = toIndices(labels, 'labels', numClasses, where);
  const p = toIndices(predictions, 'predictions', numClasses, where);
  const m: ConfusionMatrix = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < y.length; i++) m[y[i]][p[i]]++;
  return m;
}

/** Fraction of predictions equal to the label. */
export function accuracy(labels: ClassIndices, predictions: ClassIndices): number {
  checkPair(labels, predictions, 'accuracy');
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (Number(labels[i]) === Number(predictions[i])) correct++;
  return correct / labels.length;
}

const IntervalOptionsSchema = z
  .object({
    /** Two-sided confidence level in (0, 1). */
    confidence: z.number().gt(0).lt(1).default(0.95),
  })
  .strict();
export type IntervalOptions = z.input<typeof IntervalOptionsSchema>;

function parseOptions<S extends z.ZodType>(schema: S, options: unknown, where: string): z.output<S> {
  return parseOrThrow(schema, options ?? {}, `${where}: invalid options`, 'see the option types in src/metrics/classification.ts');
}

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation, relative error
 * < 1.2e-9), enough for a confidence interval's z.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new ConfigError('E_BAD_ARGUMENT', `normalQuantile: p must be in (0, 1), found ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lowTail = 0.02425;
  if (p < lowTail) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lowTail) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Wilson score interval for a binomial proportion: unlike the normal approximation it stays
 * inside [0, 1] and is sensible at 0 or n successes and for small n.
 */
export function wilsonInterval(successes: number, total: number, options?: IntervalOptions): WilsonInterval {
  const { confidence } = parseOptions(IntervalOptionsSchema, options, 'wilsonInterval');
  if (!Number.isInteger(total) || total < 1) {
    throw new DataError('E_BAD_ARGUMENT', `wilsonInterval: total must be a positive integer, found ${total}`, {
      hint: 'an interval needs at least one sample',
    });
  }
  if (!Number.isInteger(successes) || successes < 0 || successes > total) {
    throw new DataError('E_BAD_ARGUMENT', `wilsonInterval: successes must be an integer in [0, ${total}], found ${successes}`);
  }
  const z1 = normalQuantile(1 - (1 - confidence) / 2);
  const n = total;
  const p = successes / n;
  const z2 = z1 * z1;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z1 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // Exact bounds at the extremes (avoid 1e-17 rounding residue).
  const lower = successes === 0 ? 0 : Math.max(0, center - half);
  const upper = successes === n ? 1 : Math.min(1, center + half);
  return { estimate: p, lower, upper, confidence };
}

/** Accuracy with its Wilson score interval. */
export function accuracyWithInterval(labels: ClassIndices, predictions: ClassIndices, options?: IntervalOptions): AccuracyResult {
  checkPair(labels, predictions, 'accuracyWithInterval');
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (Number(labels[i]) === Number(predictions[i])) correct++;
  return { ...wilsonInterval(correct, labels.length, options), correct, total: labels.length };
}

const ReportOptionsSchema = z
  .object({
    classNames: z.array(z.string()).optional(),
    confidence: z.number().gt(0).lt(1).default(0.95),
  })
  .strict();
export type ClassificationOptions = z.input<typeof ReportOptionsSchema>;

/** Per-class and averaged metrics from a confusion matrix ([true][predicted]). */
export function metricsFromConfusion(confusion: ConfusionMatrix, options?: ClassificationOptions): ClassificationMetrics {
  const where = 'metricsFromConfusion';
  const opts = parseOptions(ReportOptionsSchema, options, where);
  const k = confusion.length;
  checkNumClasses(k, where);
  for (let i = 0; i < k; i++) {
    const row = confusion[i];
    if (!Array.isArray(row) || row.length !== k) {
      throw new DataError('E_SHAPE_MISMATCH', `${where}: confusion matrix must be ${k}x${k}, row ${i} has ${Array.isArray(row) ? row.length : 'no'} entries`);
    }
    for (let j = 0; j < k; j++) {
      if (!Number.isInteger(row[j]) || row[j] < 0) {
        throw new DataError('E_BAD_ARGUMENT', `${where}: confusion[${i}][${j}] must be a non-negative integer count, found ${row[j]}`);
      }
    }
  }
  if (opts.classNames && opts.classNames.length !== k) {
    throw new ConfigError('E_BAD_OPTION', `${where}: classNames has ${opts.classNames.length} names for ${k} classes`, {
      hint: 'pass one name per class, in class-index order',
    });
  }
  let total = 0;
  let correct = 0;
  const predicted = new Array<number>(k).fill(0);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      total += confusion[i][j];
      predicted[j] += confusion[i][j];
    }
    correct += confusion[i][i];
  }
  if (total === 0) {
    throw new DataError('E_NO_DATA', `${where}: the confusion matrix is empty (no samples)`, {
      hint: 'metrics need at least one labelled sample',
    });
  }
  const warnings: string[] = [];
  const perClass: ClassMetrics[] = [];
  for (let c = 0; c < k; c++) {
    const name = opts.classNames ? opts.classNames[c] : String(c);
    const tp = confusion[c][c];
    const support = confusion[c].reduce((s, v) => s + v, 0);
    const precisionDefined = predicted[c] > 0;
    const recallDefined = support > 0;
    const precision = precisionDefined ? tp / predicted[c] : 0;
    const recall = recallDefined ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    if (!precisionDefined) warnings.push(`class '${name}' was never predicted: its precision is undefined and reported as 0`);
    if (!recallDefined) warnings.push(`class '${name}' has no samples: its recall is undefined and reported as 0`);
    perClass.push({ index: c, name, precision, recall, f1, support, predicted: predicted[c], precisionDefined, recallDefined });
  }
  const mean = (f: (m: ClassMetrics) => number) => perClass.reduce((s, m) => s + f(m), 0) / k;
  const wmean = (f: (m: ClassMetrics) => number) => perClass.reduce((s, m) => s + f(m) * m.support, 0) / total;
  return {
    numClasses: k,
    accuracy: { ...wilsonInterval(correct, total, { confidence: opts.confidence }), correct, total },
    confusion: confusion.map((r) => r.slice()),
    perClass,
    macro: { precision: mean((m) => m.precision), recall: mean((m) => m.recall), f1: mean((m) => m.f1) },
    weighted: { precision: wmean((m) => m.precision), recall: wmean((m) => m.recall), f1: wmean((m) => m.f1) },
    warnings,
  };
}

/** Everything `headstart evaluate` reports, from labels and predicted classes. */
export function classificationMetrics(labels: ClassIndices, predictions: ClassIndices, numClasses: number, options?: ClassificationOptions): ClassificationMetrics {
  return metricsFromConfusion(confusionMatrix(labels, predictions, numClasses), options);
}

function checkLogits(logits: ArrayLike<number>, numClasses: number, where: string): number {
  checkNumClasses(numClasses, where);
  if (logits.length === 0) {
    throw new DataError('E_NO_DATA', `${where}: logits are empty`, { hint: 'pass a row-major [N, numClasses] batch with N >= 1' });
  }
  if (logits.length % numClasses !== 0) {
    throw new DataError('E_SHAPE_MISMATCH', `${where}: logits length ${logits.length} is not a multiple of numClasses ${numClasses}`, { hint: 'logits must be a row-major [N, numClasses] batch' });
  }
  for (let i = 0; i < logits.length; i++) {
    if (!Number.isFinite(logits[i])) {
      const row = Math.floor(i / numClasses);
      throw new DataError('E_DIVERGED', `${where}: logits[${row}][${i % numClasses}] is ${logits[i]}, expected a finite number`, {
        hint: 'the model produced a non-finite output; check the weights and the input normalisation',
      });
    }
  }
  return logits.length / numClasses;
}

/** log(sum(exp(row))) of row `r` of a row-major [N, k] matrix, computed stably. */
export function logSumExpRow(m: ArrayLike<number>, r: number, k: number): number {
  const o = r * k;
  let max = -Infinity;
  for (let c = 0; c < k; c++) max = Math.max(max, m[o + c]);
  let sum = 0;
  for (let c = 0; c < k; c++) sum += Math.exp(m[o + c] - max);
  return max + Math.log(sum);
}

/** Softmax of row `r` of a row-major [N, k] matrix, times `scale`, into `out` at the same place (added with `accumulate`). */
export function softmaxRowInto(m: ArrayLike<number>, r: number, k: number, out: Float32Array | Float64Array, scale = 1, accumulate = false): void {
  const o = r * k;
  const lse = logSumExpRow(m, r, k);
  for (let c = 0; c < k; c++) {
    const p = Math.exp(m[o + c] - lse) * scale;
    out[o + c] = accumulate ? out[o + c] + p : p;
  }
}

/** Row-wise softmax of a row-major [N, C] batch, computed stably in float64. */
export function softmax(logits: ArrayLike<number>, numClasses: number): Float64Array {
  const n = checkLogits(logits, numClasses, 'softmax');
  const out = new Float64Array(logits.length);
  for (let r = 0; r < n; r++) softmaxRowInto(logits, r, numClasses, out);
  return out;
}

/** Index of the largest of row `r` of a row-major [N, k] matrix (the first one on ties). */
export function argmaxRow(m: ArrayLike<number>, r: number, k: number): number {
  const o = r * k;
  let best = 0;
  for (let c = 1; c < k; c++) if (m[o + c] > m[o + best]) best = c;
  return best;
}

/** Index of the largest logit in each row (the first one on ties). */
export function argmaxRows(logits: ArrayLike<number>, numClasses: number): Int32Array {
  const n = checkLogits(logits, numClasses, 'argmaxRows');
  return Int32Array.from({ length: n }, (_, r) => argmaxRow(logits, r, numClasses));
}

/**
 * Fraction of rows whose label is among the k largest logits. A label's rank counts the
 * classes with a larger logit, plus equal logits at a lower index (argmax's tie rule), so
 * top-1 accuracy equals the accuracy of argmaxRows.
 */
export function topKAccuracy(logits: ArrayLike<number>, labels: ClassIndices, numClasses: number, k: number): number {
  const where = 'topKAccuracy';
  const n = checkLogits(logits, numClasses, where);
  if (!Number.isInteger(k) || k < 1) {
    throw new ConfigError('E_BAD_OPTION', `${where}: k must be a positive integer, found ${k}`, { hint: 'use k = 1 for plain accuracy' });
  }
  if (labels.length !== n) {
    throw new DataError('E_SHAPE_MISMATCH', `${where}: ${n} logit rows but ${labels.length} labels`, { hint: 'pass one label per row' });
  }
  const y = toIndices(labels, 'labels', numClasses, where);
  let hits = 0;
  for (let r = 0; r < n; r++) {
    const o = r * numClasses;
    const target = logits[o + y[r]];
    let rank = 0;
    for (let c = 0; c < numClasses; c++) {
      const v = logits[o + c];
      if (v > target || (v === target && c < y[r])) rank++;
    }
    if (rank < k) hits++;
  }
  return hits / n;
}
