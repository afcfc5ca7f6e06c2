/**
 * The submission file of Kaggle's Dogs vs Cats competitions: a header `id,label`, then one
 * row per test image, id = the file name's stem (`1234.jpg` -> 1234), label = the predicted
 * probability of the second class (with classes sorted as training sorts them, cat < dog,
 * that is P(dog)). Rows are in numeric id order when every id is a number.
 */
import { csvRow } from '../csv-row.js';
import { ConfigError } from '../errors.js';
import { compareCodePoints } from '../data/compare-code-points.js';
import type { Prediction } from './predict.js';

export interface KaggleRow {
  id: string;
  label: number;
}

/** Throws unless a submission can be made with these classes (checked before any image is classified). */
export function assertKaggleClasses(classes: readonly string[]): void {
  if (classes.length !== 2) {
    throw new ConfigError('E_INCOMPATIBLE_INPUT', `--kaggle needs a model with 2 classes, this one has ${classes.length} (${classes.slice(0, 10).join(', ')}${classes.length > 10 ? ', ...' : ''})`, {
      hint: 'the Dogs vs Cats submission holds one probability per image; use --format csv for other models',
    });
  }
}

function kaggleRows(predictions: readonly Prediction[], classes: readonly string[]): KaggleRow[] {
  assertKaggleClasses(classes);
  const rows = predictions.map((p) => ({ id: p.id, label: p.probabilities[1] }));
  const seen = new Map<string, string>();
  for (const p of predictions) {
    const other = seen.get(p.id);
    if (other !== undefined) {
      throw new ConfigError('E_BAD_OPTION', `Two images have the id ${p.id}: \`${other}\` and \`${p.path}\``, { hint: 'a Kaggle submission needs one row per id; predict one test folder at a time' });
    }
    seen.set(p.id, p.path);
  }
  const numeric = rows.every((r) => /^\d+$/.test(r.id));
  rows.sort(numeric ? (a, b) => Number(a.id) - Number(b.id) || compareCodePoints(a.id, b.id) : (a, b) => compareCodePoints(a.id, b.id));
  return rows;
}

export function kaggleCsv(predictions: readonly Prediction[], classes: readonly string[]): string {
  const lines = [csvRow(['id', 'label']), ...kaggleRows(predictions, classes).map((r) => csvRow([r.id, r.label.toFixed(6)]))];
  return `${lines.join('\n')}\n`;
}
