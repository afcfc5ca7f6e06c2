/** Renderings of an EvaluateResult: a plain-text report for the terminal, and JSON. */
import type { EvaluateResult } from './evaluate.js';

const pct = (p: number) => `${(100 * p).toFixed(1)}%`;

function columns(rows: string[][], rightAlign: (c: number) => boolean): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (rightAlign(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd(),
  );
}

export function formatEvaluation(result: EvaluateResult): string {
  const m = result.metrics;
  const a = m.accuracy;
  const out: string[] = [];
  out.push(`accuracy ${pct(a.estimate)} (${a.correct}/${a.total}), ${Math.round(a.confidence * 100)}% Wilson interval [${pct(a.lower)}, ${pct(a.upper)}]${result.tta ? ' (TTA)' : ''}`);
  out.push('');
  const perClass = [['class', 'precision', 'recall', 'f1', 'support']];
  for (const c of m.perClass) perClass.push([c.name, c.precision.toFixed(3), c.recall.toFixed(3), c.f1.toFixed(3), String(c.support)]);
  perClass.push(['macro avg', m.macro.precision.toFixed(3), m.macro.recall.toFixed(3), m.macro.f1.toFixed(3), String(a.total)]);
  perClass.push(['weighted avg', m.weighted.precision.toFixed(3), m.weighted.recall.toFixed(3), m.weighted.f1.toFixed(3), String(a.total)]);
  out.push(...columns(perClass, (c) => c > 0));
  out.push('');
  out.push('confusion matrix (rows: true class, columns: predicted)');
  const confusion = [['', ...result.classes], ...m.confusion.map((row, i) => [result.classes[i], ...row.map(String)])];
  out.push(...columns(confusion, (c) => c > 0));
  for (const w of m.warnings) out.push(`note: ${w}`);
  if (result.mistakes.length > 0) {
    out.push('');
    out.push('most confident mistakes');
    out.push(...columns([['image', 'true', 'predicted', 'p'], ...result.mistakes.map((x) => [x.path, x.label, x.predicted, pct(x.probability)])], (c) => c === 3));
  }
  const r = result.rejection;
  if (r) {
    out.push('');
    out.push(
      `unknown images (${r.unknownImages} in ${r.unknownDir}), ${r.score} score: AUROC ${r.auroc.toFixed(4)}, FPR at 95% TPR ${pct(r.fprAt95Tpr)}, known accepted when 80% of unknown rejected ${pct(r.knownAcceptedAt80Rejected)}`,
    );
    if (r.threshold !== undefined) {
      out.push(
        `at the model's threshold ${r.threshold.toPrecision(5)}: ${pct(r.knownAccepted!)} of known images accepted (accuracy ${pct(r.acceptedAccuracy!)} on ${r.acceptedImages}), ${pct(r.unknownRejected!)} of unknown images rejected`,
      );
    } else out.push('the model has no "unknown" threshold (train it with headstart train, which sets one)');
  }
  for (const s of result.skipped) out.push(`skipped ${s.path}: ${s.reason}`);
  return `${out.join('\n')}\n`;
}

export function evaluationJson(result: EvaluateResult): string {
  const { model, ...rest } = result;
  return `${JSON.stringify({ model: model.model, ...rest }, null, 2)}\n`;
}
