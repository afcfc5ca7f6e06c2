/**
 * The report sections that explain a model (report.html; the same data goes to report.json):
 * the top losses as a gallery, the most confused class pairs, accuracy per class with Wilson
 * intervals, the learning rate and loss per batch, and a preview of the training augmentation.
 */
import { batchCurvesFigure, type BatchPoint } from './batch-curves.js';
import { svgDocument } from './svg-plot.js';
import { escapeXml } from './xml-escape.js';

export interface ReportImage {
  bytes: Uint8Array;
  mime: 'image/png' | 'image/jpeg' | 'image/webp';
}

export interface ReportTopLoss {
  file: string;
  label: string;
  predicted: string;
  /** Probability of the predicted class. */
  probability: number;
  /** Probability of the true class. */
  trueProbability: number;
  loss: number;
  image?: ReportImage;
}

export interface ReportConfusedPair {
  actual: string;
  predicted: string;
  count: number;
  /** count / val images of the actual class. */
  share: number;
}

export interface ReportClassAccuracy {
  name: string;
  correct: number;
  total: number;
  /** null when the class has no val images. */
  estimate: number | null;
  lower: number | null;
  upper: number | null;
}

export interface ReportAugmentation {
  /** The training pipeline, in words (Pipeline.describe()). */
  pipeline: string;
  images: { file: string; original?: ReportImage; views: ReportImage[] }[];
}

export interface ReportExplanation {
  topLosses?: ReportTopLoss[];
  confused?: ReportConfusedPair[];
  perClass?: ReportClassAccuracy[];
  /** Confidence level of the per-class intervals. */
  confidence?: number;
  batches?: BatchPoint[];
  augmentation?: ReportAugmentation;
  /** Lines that qualify the numbers (e.g. what train accuracy means under MixUp). */
  notes?: string[];
}

const pct = (v: number, d = 1): string => `${(v * 100).toFixed(d)}%`;

function dataUri(img: ReportImage): string {
  return `data:${img.mime};base64,${Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength).toString('base64')}`;
}

function imgTag(img: ReportImage | undefined, alt: string, cls = ''): string {
  return img ? `<img${cls ? ` class="${cls}"` : ''} alt="${escapeXml(alt)}" src="${dataUri(img)}"/>` : '';
}

/** A 0-100% track with the interval as a bar and the estimate as a tick. */
function intervalBar(estimate: number, lower: number, upper: number): string {
  const W = 160;
  const x = (v: number) => (v * W).toFixed(1);
  return (
    `<svg width="${W}" height="12" viewBox="0 0 ${W} 12" role="img" aria-label="${escapeXml(`${pct(estimate)} (${pct(lower)} to ${pct(upper)})`)}">` +
    `<rect x="0" y="4" width="${W}" height="4" fill="#e3e6ea"/><rect x="${x(lower)}" y="2" width="${(Math.max(upper - lower, 0.004) * W).toFixed(1)}" height="8" fill="#0072B2" opacity="0.45"/>` +
    `<rect x="${(estimate * W - 1).toFixed(1)}" y="0" width="2" height="12" fill="#222"/></svg>`
  );
}

export const EXPLAIN_CSS = `
.aug{display:grid;grid-template-columns:repeat(17,minmax(0,1fr));gap:4px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;margin:0 0 12px}
.aug img{width:100%;image-rendering:pixelated;display:block}
.aug .orig{outline:2px solid #D55E00}
.loss{font-variant-numeric:tabular-nums}
`;

export function explainSections(e: ReportExplanation): string {
  const s: string[] = [];
  if (e.notes?.length) s.push(`<ul class="warn">${e.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>`);

  if (e.topLosses?.length) {
    s.push('<h2>Top losses</h2>');
    s.push(
      '<p class="sub">The val images with the highest loss (-log of the probability given to the true class), highest first: predicted class and its probability, true class, loss.</p><div class="grid">',
    );
    for (const t of e.topLosses) {
      const right = t.label === t.predicted;
      s.push(
        `<div class="thumb">${imgTag(t.image, t.file)}<div><b>${escapeXml(t.predicted)}</b> ${pct(t.probability)}${right ? ' ✓' : ''}</div>` +
          `<div>true: ${escapeXml(t.label)} (${pct(t.trueProbability)})</div><div class="loss">loss ${t.loss.toFixed(3)}</div><div><code>${escapeXml(t.file)}</code></div></div>`,
      );
    }
    s.push('</div>');
  }

  if (e.confused) {
    s.push('<h2>Most confused pairs</h2>');
    if (e.confused.length === 0) s.push('<p>No val image was given a wrong class.</p>');
    else {
      const rows = e.confused.map((c) => `<tr><td class="l">${escapeXml(c.actual)}</td><td class="l">${escapeXml(c.predicted)}</td><td>${c.count}</td><td>${pct(c.share)}</td></tr>`);
      s.push(
        `<table class="confused"><thead><tr><th class="l">true class</th><th class="l">predicted as</th><th>images</th><th>share of the true class</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
      );
    }
  }

  if (e.perClass?.length) {
    const conf = Math.round((e.confidence ?? 0.95) * 100);
    s.push('<h2>Accuracy per class</h2>');
    s.push(`<p class="sub">Share of each class's val images classified correctly, with its ${conf}% Wilson interval (bar: interval, tick: estimate). Few images, wide interval.</p>`);
    const rows = e.perClass.map((c) =>
      c.estimate === null || c.lower === null || c.upper === null
        ? `<tr><td class="l">${escapeXml(c.name)}</td><td>-</td><td>0</td><td>-</td><td class="l">no val images</td></tr>`
        : `<tr><td class="l">${escapeXml(c.name)}</td><td>${pct(c.estimate)}</td><td>${c.correct} / ${c.total}</td><td>[${pct(c.lower)}, ${pct(c.upper)}]</td><td class="l">${intervalBar(c.estimate, c.lower, c.upper)}</td></tr>`,
    );
    s.push(
      `<table class="per-class-acc"><thead><tr><th class="l">class</th><th>accuracy</th><th>correct</th><th>${conf}% interval</th><th class="l">0% – 100%</th></tr></thead><tbody>${rows.join('')}</tbody></table>`,
    );
  }

  if (e.batches?.length) {
    s.push('<h2>Learning rate and loss per batch</h2>');
    s.push(
      `<figure>${svgDocument(batchCurvesFigure(e.batches))
        .trimEnd()
        .replace(/^<svg /, '<svg role="img" aria-label="learning rate and loss per batch" ')}</figure>`,
    );
  }

  if (e.augmentation?.images.length) {
    s.push('<h2>Augmentation preview</h2>');
    s.push(
      `<p class="sub">${e.augmentation.images[0].views.length} random training views of each image (outlined: the original), as the network saw them: <code>${escapeXml(e.augmentation.pipeline)}</code></p>`,
    );
    for (const im of e.augmentation.images) {
      s.push(
        `<p class="sub"><code>${escapeXml(im.file)}</code></p><div class="aug">${imgTag(im.original, `${im.file} (original)`, 'orig')}${im.views.map((v, i) => imgTag(v, `${im.file} view ${i + 1}`)).join('')}</div>`,
      );
    }
  }
  return s.join('\n');
}
