/** Renders a DoctorReport as a plain-text report: counts table, imbalance, findings by kind, verdict. */
import type { DoctorReport, Finding, FindingKind, Severity } from './doctor.js';

export interface FormatDoctorOptions {
  /** Findings listed per kind before "... and N more" (default 20; Infinity lists all). */
  maxPerKind?: number;
}

const TITLES: Record<FindingKind, string> = {
  'missing-root': 'dataset folder missing',
  'missing-train': 'no train/ folder',
  'no-classes': 'no class folders',
  'empty-class': 'class folders without images',
  'class-mismatch': 'class lists differ between splits',
  'unknown-test-class': 'test classes unknown to train',
  'no-usable-image': 'classes with no decodable image',
  'empty-file': 'zero-byte files',
  'not-an-image': 'files that are not images',
  truncated: 'truncated files',
  unreadable: 'unreadable files',
  'extension-mismatch': 'content does not match the extension',
  duplicate: 'duplicates within a split',
  leak: 'duplicates across splits (leakage)',
  imbalance: 'class imbalance',
  'loose-files': 'images outside class folders',
  'unexpected-folder': 'ignored folders',
  'small-image': 'images smaller than the crop',
  'tiny-image': 'images too small to use',
  'large-image': 'very large images',
  cmyk: 'CMYK images',
  'high-bit-depth': '16-bit images',
  alpha: 'images with transparency',
  grayscale: 'greyscale images',
  palette: 'palette images',
  'exif-rotated': 'EXIF-rotated images',
  'multi-frame': 'multi-frame images',
  'unusual-name': 'unusual file names',
  'skipped-files': 'skipped files',
  'too-few-classes': 'fewer than 2 classes',
};

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
  return rows.map((r) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd(),
  );
}

/** A note about one file ("is greyscale; it is expanded to RGB") said of several. */
function plural(text: string): string {
  return text
    .replace(/^is /, 'are ')
    .replace(/^has /, 'have ')
    .replace(/^uses /, 'use ')
    .replace(/\bit is\b/g, 'they are')
    .replace(/\bit will\b/g, 'they will')
    .replace(/\bits name\b/g, 'their names');
}

/** Examples shown for a group of identical notes. */
const EXAMPLES = 3;

/**
 * Notes of one kind, grouped by what they say about each file (the message without its leading
 * file name): one line per distinct note with its count and a few example files.
 */
function groupedNotes(list: readonly Finding[], max: number): string[] {
  const byText = new Map<string, string[]>();
  for (const f of list) {
    const m = /^`([^`]*)` (.*)$/s.exec(f.message);
    const [file, text] = m ? [m[1], m[2]] : [null, f.message];
    // Appended in place: a spread copy per finding is quadratic (100,000 small images: minutes).
    let files = byText.get(text);
    if (!files) byText.set(text, (files = []));
    if (file !== null) files.push(file);
  }
  const lines: string[] = [];
  const groups = [...byText].sort((a, b) => b[1].length - a[1].length);
  for (const [text, files] of groups.slice(0, max)) {
    if (files.length <= 1) {
      lines.push(`      ${files.length ? `\`${files[0]}\` ` : ''}${text}`);
      continue;
    }
    const shown = files
      .slice(0, EXAMPLES)
      .map((f) => `\`${f}\``)
      .join(', ');
    lines.push(`      ${files.length} files ${plural(text)}: e.g. ${shown}${files.length > EXAMPLES ? ` and ${files.length - EXAMPLES} more` : ''}`);
  }
  if (groups.length > max) lines.push(`      ... and ${groups.length - max} more kinds of note (use --all or --json)`);
  return lines;
}

export function formatDoctorReport(report: DoctorReport, options: FormatDoctorOptions = {}): string {
  const max = options.maxPerKind ?? 20;
  const lines: string[] = [];
  const layout = report.layout === 'splits' ? report.splits.map((s) => `${s.name}/`).join(' ') : 'class folders only (split into train/val when loaded)';
  lines.push(`Dataset: ${report.root}`);
  lines.push(`Layout:  ${layout}`);
  lines.push(`Classes: ${report.classes.length} (${report.classes.join(', ')})`);
  lines.push('');
  if (report.splits.length) {
    const header = ['class', ...report.splits.map((s) => s.name)];
    const rows = [header];
    for (const c of report.classes) rows.push([c, ...report.splits.map((s) => (c in s.perClass ? String(s.perClass[c]) : '-'))]);
    if (report.splits.some((s) => s.unlabelled)) rows.push(['(unlabelled)', ...report.splits.map((s) => (s.unlabelled ? String(s.unlabelled) : '-'))]);
    rows.push(['total', ...report.splits.map((s) => String(s.total))]);
    if (report.splits.some((s) => s.failed)) rows.push(['failed to decode', ...report.splits.map((s) => String(s.failed))]);
    lines.push(...table(rows).map((l) => `  ${l}`));
    lines.push('');
  }
  for (const im of report.imbalance) {
    lines.push(`Imbalance ${im.split}: ${im.ratio.toFixed(2)}x (largest ${im.largest.class} ${im.largest.count}, smallest ${im.smallest.class} ${im.smallest.count})`);
  }
  if (report.imbalance.length) lines.push('');

  const groups = new Map<FindingKind, Finding[]>();
  for (const f of report.findings) {
    const list = groups.get(f.kind);
    if (list) list.push(f);
    else groups.set(f.kind, [f]);
  }
  if (groups.size) {
    lines.push('Findings:');
    const label: Record<Severity, string> = { error: 'ERROR  ', warning: 'WARNING', info: 'info   ' };
    for (const [kind, list] of groups) {
      lines.push(`  ${label[list[0].severity]} ${TITLES[kind]} (${list.length})`);
      if (list[0].severity === 'info' && Number.isFinite(max)) {
        lines.push(...groupedNotes(list, max));
        continue;
      }
      for (const f of list.slice(0, max)) lines.push(`      ${f.message}`);
      if (list.length > max) lines.push(`      ... and ${list.length - max} more (use --all or --json)`);
    }
    lines.push('');
  }
  const verdict = { ok: 'HEALTHY', warnings: 'USABLE WITH WARNINGS', errors: 'NOT USABLE' }[report.verdict];
  lines.push(`Files: ${report.files.images} images, ${report.files.decoded} decode, ${report.files.failed} fail, ${report.files.skipped} skipped`);
  lines.push(`Verdict: ${verdict}: ${report.summary}`);
  return lines.join('\n');
}
