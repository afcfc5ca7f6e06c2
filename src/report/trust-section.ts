/**
 * The report's "Calibration and unknown answers" section: the temperature, ECE and NLL
 * before and after (with the reliability diagram), and how the "unknown" threshold was
 * chosen and what it rejects.
 */
import type { TemperatureCalibration } from '../metrics/calibration.js';
import { reliabilityFigure } from './reliability-svg.js';
import { svgDocument } from './svg-plot.js';
import { escapeXml } from './xml-escape.js';

export interface ReportRejection {
  score: string;
  threshold: number;
  method: 'reject-rate' | 'unknown-dir';
  rejectRate?: number;
  valRejected: number;
  unknownImages?: number;
  unknownRejected?: number;
  auroc?: number;
  featureDistance?: { dim: number; shrinkage: number; trainImages: number; covarianceImages: number; unknownImages?: number };
}

/** What each score measures, in words. */
const SCORE_WORDS: Record<string, string> = {
  msp: 'the maximum calibrated probability',
  energy: 'T · logsumexp(logits / T)',
  mahalanobis: 'minus the Mahalanobis distance of the pooled features to the nearest class mean',
};

export interface ReportTrust {
  calibration?: TemperatureCalibration;
  rejection?: ReportRejection;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export function trustSection(t: ReportTrust): string {
  const s: string[] = [];
  if (!t.calibration && !t.rejection) return '';
  s.push('<h2>Calibration and unknown answers</h2>');
  const c = t.calibration;
  if (c) {
    s.push(
      `<p>Temperature scaling fitted on ${c.images} val images: the model divides its logits by <b>T = ${c.temperature.toFixed(4)}</b> before the softmax ` +
        `(output <code>probabilities</code>; <code>logits</code> stay raw).</p>`,
    );
    s.push(
      `<table class="calibration"><thead><tr><th class="l"></th><th>ECE (15 bins)</th><th>NLL</th></tr></thead><tbody>` +
        `<tr><td class="l">before (T = 1)</td><td>${c.before.ece.toFixed(4)}</td><td>${c.before.nll.toFixed(4)}</td></tr>` +
        `<tr><td class="l">after</td><td>${c.after.ece.toFixed(4)}</td><td>${c.after.nll.toFixed(4)}</td></tr></tbody></table>`,
    );
    const svg = svgDocument(reliabilityFigure(c))
      .trimEnd()
      .replace(/^<svg /, '<svg role="img" aria-label="reliability diagram" ');
    s.push(`<figure>${svg}</figure>`);
  }
  const r = t.rejection;
  if (r) {
    const how =
      r.method === 'unknown-dir'
        ? `at the best F1 between accepted known images and rejected unknown images (${r.unknownImages ?? 0} images of none of the classes)`
        : `so that about ${pct(r.rejectRate ?? 0)} of the val images are rejected`;
    const fd = r.featureDistance;
    const word = fd?.unknownImages ? 'the squared Mahalanobis distance of the pooled features to the centre of the unknown images, minus that to the nearest class mean' : SCORE_WORDS[r.score];
    const words = word ? ` (${word})` : '';
    const fitted = fd
      ? ` The class means and the shared covariance (${fd.dim}-d features, Ledoit-Wolf shrinkage ${fd.shrinkage.toFixed(3)}) were fitted on ${fd.trainImages} training images${fd.covarianceImages < fd.trainImages + (fd.unknownImages ?? 0) ? ` (the covariance on ${fd.covarianceImages} rows)` : ''}.${fd.unknownImages ? ` The ${fd.unknownImages} images of none of the classes got a centre of their own (in the shared covariance); their rejection figures below come from fits that left each of them out (5 folds).` : ''}`
      : '';
    s.push(
      `<p>The model answers <b>unknown</b> (output <code>unknown</code>) when its <code>${escapeXml(r.score)}</code> score${escapeXml(words)} is below <b>${r.threshold.toPrecision(5)}</b>, chosen ${escapeXml(how)}.${escapeXml(fitted)}</p>`,
    );
    const rows = [[`val images rejected`, pct(r.valRejected)]];
    if (r.unknownRejected !== undefined) rows.push(['unknown images rejected', pct(r.unknownRejected)]);
    if (r.auroc !== undefined) rows.push([`AUROC of the ${r.score} score, val vs ${r.unknownImages ?? 0} unknown images`, r.auroc.toFixed(4)]);
    s.push(`<table class="rejection"><tbody>${rows.map(([k, v]) => `<tr><td class="l">${escapeXml(k)}</td><td>${escapeXml(v)}</td></tr>`).join('')}</tbody></table>`);
  }
  return s.join('\n');
}
