/**
 * The one CSV writer of headstart (RFC 4180): every CSV file the tool writes — predictions,
 * the Kaggle submission, history.csv — builds its rows here, so a value holding a comma, a
 * quote or a line break is quoted the same way everywhere.
 */

/** One CSV field: quoted when it holds a comma, a quote or a line break (quotes doubled). */
function csvField(value: string | number): string {
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record (without its line break). */
export function csvRow(values: readonly (string | number)[]): string {
  return values.map(csvField).join(',');
}
