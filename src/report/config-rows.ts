/**
 * The rows of a report's configuration table, for people: keys in words ("batch size", not
 * `batchSize` or `train_images`; nested keys after their parent), values readable (numbers to
 * 4 significant digits, "not set" for null, yes/no, long lists cut with their length).
 * config.json keeps the exact values.
 */

/** Values of a list shown before "… (N in all)". */
const LIST_LIMIT = 6;

/** `batchSize`, `train_images`, `onnxruntime-node` -> "batch size", "train images", "onnxruntime-node". */
function keyInWords(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/_/g, ' ')
    .toLowerCase()
    .replace(/\blr\b/g, 'learning rate')
    .replace(/\bbn\b/g, 'BatchNorm')
    .replace(/\bval\b/g, 'val');
}

function number(v: number): string {
  if (Number.isInteger(v)) return String(v);
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential(2).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(4)));
}

function scalar(v: unknown): string {
  if (v === null || v === undefined) return 'not set';
  if (typeof v === 'number') return number(v);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function list(v: readonly unknown[]): string {
  if (v.length === 0) return 'none';
  const shown = v.slice(0, LIST_LIMIT).map(scalar).join(', ');
  return v.length > LIST_LIMIT ? `${shown}, … (${v.length} in all)` : shown;
}

export function configRows(config: Record<string, unknown>): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  const walk = (value: unknown, label: string) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0) rows.push([label, 'none']);
      for (const [k, v] of entries) walk(v, label ? `${label} · ${keyInWords(k)}` : keyInWords(k));
    } else rows.push([label, Array.isArray(value) ? list(value) : scalar(value)]);
  };
  walk(config, '');
  return rows;
}
