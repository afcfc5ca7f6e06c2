/**
 * doctor(root): decodes every file of a folder dataset and reports what would hurt training,
 * without changing anything: image counts per split and class and their imbalance;
 * unreadable, truncated and zero-byte files; content that does not match the extension;
 * images smaller than the crop and very large ones; colour conversions the loader will do;
 * exact duplicates (content hash) within a split and across splits (leakage); structural
 * errors (empty classes, class lists that differ). Every finding names the files. The
 * report is plain data (JSON-serialisable); format-doctor-report.ts renders it as text.
 */
import { createHash } from 'node:crypto';
import { basename, relative, sep } from 'node:path';
import { z } from 'zod';
import { DataError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { compareCodePoints } from './compare-code-points.js';
import { readDatasetLayout, type DatasetLayout } from './dataset-layout.js';
import { inspectImage, readImageBytes, type ImageInspection } from './decode.js';
import { formatFromName, sniffFormat } from './image-format.js';

export const DoctorOptionsSchema = z.strictObject({
  /** The crop side: images with a smaller side will be upscaled, and are listed. */
  inputSize: z.number().int().positive().default(224),
  /** Images with more pixels than this are listed as very large (slow to decode). */
  largePixels: z
    .number()
    .int()
    .positive()
    .default(4096 * 4096),
  /** Largest/smallest class count above this is a warning. */
  imbalanceRatio: z.number().min(1).default(3),
  /** Files decoded at the same time. */
  concurrency: z.number().int().positive().default(4),
  /** Called after each file with (done, total). */
  onProgress: z.custom<(done: number, total: number) => void>((v) => typeof v === 'function', { message: 'onProgress must be a function' }).optional(),
});

export type DoctorOptions = z.input<typeof DoctorOptionsSchema>;

export type Severity = 'error' | 'warning' | 'info';

export type FindingKind =
  | 'missing-root'
  | 'missing-train'
  | 'no-classes'
  | 'empty-class'
  | 'class-mismatch'
  | 'unknown-test-class'
  | 'no-usable-image'
  | 'empty-file'
  | 'not-an-image'
  | 'truncated'
  | 'unreadable'
  | 'extension-mismatch'
  | 'duplicate'
  | 'leak'
  | 'imbalance'
  | 'loose-files'
  | 'unexpected-folder'
  | 'small-image'
  | 'tiny-image'
  | 'large-image'
  | 'cmyk'
  | 'high-bit-depth'
  | 'alpha'
  | 'grayscale'
  | 'palette'
  | 'exif-rotated'
  | 'multi-frame'
  | 'unusual-name'
  | 'skipped-files'
  | 'too-few-classes';

export interface Finding {
  severity: Severity;
  kind: FindingKind;
  /** One sentence naming the file(s). */
  message: string;
  /** Paths relative to the root, '/'-separated. */
  paths: string[];
}

export interface SplitCounts {
  /** 'train', 'val', 'test', or 'all' for a root of class folders (split at load time). */
  name: string;
  /** Decodable images per class. */
  perClass: Record<string, number>;
  /** Decodable images without a class (test/ loose files). */
  unlabelled: number;
  /** Files with an image extension that fail to decode. */
  failed: number;
  total: number;
}

export interface Imbalance {
  split: string;
  largest: { class: string; count: number };
  smallest: { class: string; count: number };
  ratio: number;
}

export interface DoctorReport {
  root: string;
  layout: DatasetLayout['kind'];
  classes: string[];
  splits: SplitCounts[];
  imbalance: Imbalance[];
  files: { images: number; decoded: number; failed: number; skipped: number };
  findings: Finding[];
  verdict: 'ok' | 'warnings' | 'errors';
  summary: string;
}

interface Entry {
  path: string;
  rel: string;
  split: string;
  label: string | null;
}

/** What the dataset-wide checks keep of each file (no decoded metadata: it is checked and dropped). */
interface Checked extends Entry {
  hash?: string;
  ok: boolean;
}

/** Below this side (px) an image holds too little to learn from: a warning, not a note. */
const TINY_SIDE = 8;

const TRUNCATION = /premature end|truncat|unexpected end|end of (file|stream)|incomplete|short read|corrupt data/i;

/**
 * A JPEG without its end-of-image marker or a PNG without its IEND chunk stops early. Checked
 * on the bytes because libvips, under concurrency, sometimes reports only the generic
 * "Warning treated as error due to failOn setting" instead of its "premature end" message.
 */
function endsEarly(bytes: Uint8Array, format: string): boolean {
  const tail = bytes.subarray(Math.max(0, bytes.length - 64));
  if (format === 'jpeg') {
    for (let i = tail.length - 2; i >= 0; i--) if (tail[i] === 0xff && tail[i + 1] === 0xd9) return false;
    return true;
  }
  if (format === 'png') return !Buffer.from(tail).includes('IEND');
  return false;
}

function textPreview(bytes: Buffer): string {
  const text = bytes.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

function relPath(root: string, p: string): string {
  return relative(root, p).split(sep).join('/');
}

async function check(e: Entry, add: (f: Finding) => void, o: z.output<typeof DoctorOptionsSchema>): Promise<Checked> {
  // The entry itself gains the result (a copy per file would double what the doctor holds per image).
  const out: Checked = Object.assign(e, { ok: false });
  let bytes: Buffer;
  try {
    bytes = await readImageBytes(e.path);
  } catch (err) {
    add({ severity: 'warning', kind: 'unreadable', message: `\`${e.rel}\` cannot be read: ${(err as Error).message}`, paths: [e.rel] });
    return out;
  }
  if (bytes.length === 0) {
    add({ severity: 'warning', kind: 'empty-file', message: `\`${e.rel}\` is empty (0 bytes)`, paths: [e.rel] });
    return out;
  }
  out.hash = createHash('sha1').update(bytes).digest('hex');
  const content = sniffFormat(bytes);
  const claimed = formatFromName(e.path);
  if (content === 'text') {
    add({ severity: 'warning', kind: 'not-an-image', message: `\`${e.rel}\` holds text, not an image ("${textPreview(bytes)}")`, paths: [e.rel] });
    return out;
  }
  let info: ImageInspection;
  try {
    info = await inspectImage(bytes, e.rel);
  } catch (err) {
    const msg = err instanceof DataError ? err.message.replace(/^Cannot decode image `[^`]*`: /, '') : String(err);
    if (content === 'unknown') add({ severity: 'warning', kind: 'not-an-image', message: `\`${e.rel}\` is not an image headstart can read (${msg})`, paths: [e.rel] });
    else if (TRUNCATION.test(msg) || endsEarly(bytes, content)) add({ severity: 'warning', kind: 'truncated', message: `\`${e.rel}\` is truncated: ${msg}`, paths: [e.rel] });
    else add({ severity: 'warning', kind: 'unreadable', message: `\`${e.rel}\` cannot be decoded: ${msg}`, paths: [e.rel] });
    return out;
  }
  out.ok = true;
  const actual = content === 'unknown' || content === 'empty' ? info.format : content;
  if (claimed && actual !== claimed) {
    add({
      severity: 'warning',
      kind: 'extension-mismatch',
      message: `\`${e.rel}\` is a ${actual.toUpperCase()} file named .${e.path.split('.').pop()} (it loads, but other tools may not)`,
      paths: [e.rel],
    });
  }
  const { width, height } = info;
  if (Math.min(width, height) < TINY_SIDE) {
    add({
      severity: 'warning',
      kind: 'tiny-image',
      message: `\`${e.rel}\` is ${width}x${height}: too small to show anything (upscaled to the ${o.inputSize}px crop it is a blur); remove it or check how it was exported`,
      paths: [e.rel],
    });
  } else if (Math.min(width, height) < o.inputSize) {
    add({ severity: 'info', kind: 'small-image', message: `\`${e.rel}\` is ${width}x${height}, smaller than the ${o.inputSize}px crop (it will be upscaled)`, paths: [e.rel] });
  }
  if (width * height > o.largePixels) {
    add({
      severity: 'info',
      kind: 'large-image',
      message: `\`${e.rel}\` is ${width}x${height} (${((width * height) / 1e6).toFixed(1)} MP): slow to decode every epoch; consider downscaling the dataset`,
      paths: [e.rel],
    });
  }
  if (info.space === 'cmyk') add({ severity: 'info', kind: 'cmyk', message: `\`${e.rel}\` is CMYK; it is converted to RGB`, paths: [e.rel] });
  if (info.depth && !['uchar', 'char'].includes(info.depth))
    add({ severity: 'info', kind: 'high-bit-depth', message: `\`${e.rel}\` has ${info.depth === 'ushort' ? '16' : info.depth}-bit channels; they are reduced to 8 bits`, paths: [e.rel] });
  if (info.hasAlpha) add({ severity: 'info', kind: 'alpha', message: `\`${e.rel}\` has an alpha channel; it is composited on white`, paths: [e.rel] });
  if (info.space === 'b-w' || info.space === 'grey16') add({ severity: 'info', kind: 'grayscale', message: `\`${e.rel}\` is greyscale; it is expanded to RGB`, paths: [e.rel] });
  if (info.isPalette) add({ severity: 'info', kind: 'palette', message: `\`${e.rel}\` uses a colour palette; it is expanded to RGB`, paths: [e.rel] });
  if (info.orientation > 1)
    add({ severity: 'info', kind: 'exif-rotated', message: `\`${e.rel}\` has EXIF orientation ${info.orientation}; it is rotated on load (to ${width}x${height})`, paths: [e.rel] });
  if ((info.pages ?? 1) > 1) add({ severity: 'info', kind: 'multi-frame', message: `\`${e.rel}\` has ${info.pages} frames; only the first is used`, paths: [e.rel] });
  // eslint-disable-next-line no-control-regex
  if (/\s|[^\x00-\x7f]/.test(basename(e.path)))
    add({ severity: 'info', kind: 'unusual-name', message: `\`${e.rel}\` has spaces or non-ASCII characters in its name (fine for headstart; some tools choke on it)`, paths: [e.rel] });
  return out;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function doctor(root: string, options?: DoctorOptions): Promise<DoctorReport> {
  const o = parseOrThrow(DoctorOptionsSchema, options ?? {}, 'doctor: invalid options', 'options are inputSize, largePixels, imbalanceRatio, concurrency, onProgress');
  const layout = await readDatasetLayout(root);
  const findings: Finding[] = layout.problems.map((p) => ({ severity: p.severity, kind: p.kind, message: p.message, paths: p.paths }));

  const entries: Entry[] = [];
  for (const split of ['train', 'val', 'test'] as const) {
    const listing = layout.splits[split];
    if (!listing) continue;
    const name = layout.kind === 'class-folders' ? 'all' : split;
    for (const [label, files] of listing.classes) for (const path of files) entries.push({ path, rel: relPath(root, path), split: name, label });
    if (split === 'test') for (const path of listing.loose) entries.push({ path, rel: relPath(root, path), split: name, label: null });
  }

  let done = 0;
  const fileFindings: Finding[] = [];
  const checked = await mapLimit(entries, o.concurrency, async (e) => {
    const r = await check(e, (f) => fileFindings.push(f), o);
    o.onProgress?.(++done, entries.length);
    return r;
  });
  // Deterministic order whatever finished first.
  fileFindings.sort((a, b) => compareCodePoints(a.paths[0] ?? '', b.paths[0] ?? '') || compareCodePoints(a.kind, b.kind));
  findings.push(...fileFindings);

  // Duplicates by content.
  const byHash = new Map<string, Checked[]>();
  for (const c of checked) {
    if (!c.hash) continue;
    const group = byHash.get(c.hash);
    if (group) group.push(c);
    else byHash.set(c.hash, [c]);
  }
  for (const group of byHash.values()) {
    if (group.length < 2) continue;
    const paths = group.map((g) => g.rel);
    const splits = [...new Set(group.map((g) => g.split))];
    const labels = [...new Set(group.map((g) => g.label ?? '(unlabelled)'))];
    const labelNote = labels.length > 1 ? ` with different labels (${labels.join(', ')})` : '';
    if (splits.length > 1) {
      findings.push({
        severity: 'warning',
        kind: 'leak',
        message: `Identical files across ${splits.join(' and ')}${labelNote}: ${paths.map((p) => `\`${p}\``).join(', ')} (evaluation sees training images)`,
        paths,
      });
    } else {
      const note = splits[0] === 'all' ? ' (after the train/val split they may leak into val)' : '';
      findings.push({ severity: 'warning', kind: 'duplicate', message: `Identical files in ${splits[0]}${labelNote}: ${paths.map((p) => `\`${p}\``).join(', ')}${note}`, paths });
    }
  }

  // Counts, classes without a usable image, imbalance.
  const splitNames = [...new Set(entries.map((e) => e.split))];
  const splits: SplitCounts[] = splitNames.map((name) => {
    const perClass: Record<string, number> = {};
    const listing = layout.kind === 'class-folders' ? layout.splits.train : layout.splits[name as 'train' | 'val' | 'test'];
    for (const c of listing?.classes.keys() ?? []) perClass[c] = 0;
    let unlabelled = 0;
    let failed = 0;
    for (const c of checked) {
      if (c.split !== name) continue;
      if (!c.ok) failed++;
      else if (c.label === null) unlabelled++;
      else perClass[c.label]++;
    }
    const total = Object.values(perClass).reduce((a, b) => a + b, 0) + unlabelled;
    return { name, perClass, unlabelled, failed, total };
  });
  const imbalance: Imbalance[] = [];
  for (const s of splits) {
    const dir = s.name === 'all' ? '' : `${relPath(root, layout.splits[s.name as 'train']!.dir)}/`;
    for (const [cls, n] of Object.entries(s.perClass)) {
      // Only a class without a decodable image needs its files counted (a pass per class otherwise: classes x files).
      const files = n === 0 ? checked.filter((c) => c.split === s.name && c.label === cls) : [];
      if (files.length > 0) {
        // In val or test this costs only that class's measurement; in train the class cannot be learnt.
        const measuredOnly = s.name === 'val' || s.name === 'test';
        findings.push({
          severity: measuredOnly ? 'warning' : 'error',
          kind: 'no-usable-image',
          message: `Class folder \`${dir}${cls}\` has no image that decodes (${files.length} file(s) fail)${measuredOnly ? `: the ${s.name} accuracy of \`${cls}\` cannot be measured` : ''}`,
          paths: [`${dir}${cls}`],
        });
      }
    }
    const counts = Object.entries(s.perClass).filter(([, n]) => n > 0);
    if (counts.length < 2) continue;
    counts.sort((a, b) => b[1] - a[1] || compareCodePoints(a[0], b[0]));
    const [lc, ln] = counts[0];
    const [sc, sn] = counts[counts.length - 1];
    const ratio = ln / sn;
    imbalance.push({ split: s.name, largest: { class: lc, count: ln }, smallest: { class: sc, count: sn }, ratio });
    if (ratio > o.imbalanceRatio && s.name !== 'test') {
      findings.push({
        severity: 'warning',
        kind: 'imbalance',
        message: `${s.name} is imbalanced: \`${dir}${lc}\` has ${ln} images, \`${dir}${sc}\` ${sn} (${ratio.toFixed(1)}x); consider class weights or resampling`,
        paths: [`${dir}${lc}`, `${dir}${sc}`],
      });
    }
  }

  const skippedPaths = [...layout.hidden, ...layout.nonImage];
  if (skippedPaths.length) {
    findings.push({
      severity: 'info',
      kind: 'skipped-files',
      message: `${layout.hidden.length} hidden and ${layout.nonImage.length} non-image file(s) are skipped: ${skippedPaths.map((p) => `\`${p}\``).join(', ')}`,
      paths: skippedPaths,
    });
  }

  const order: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  findings.sort((a, b) => order[a.severity] - order[b.severity]);
  const errors = findings.filter((f) => f.severity === 'error').length;
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  const failed = checked.filter((c) => !c.ok).length;
  const verdict = errors ? 'errors' : warnings ? 'warnings' : 'ok';
  const summary =
    verdict === 'errors'
      ? `${errors} error(s) stop training; fix them first (${warnings} warning(s), ${failed} unusable file(s))`
      : verdict === 'warnings'
        ? `${warnings} warning(s)${failed ? `; the loader will skip ${failed} unusable file(s)` : ''}`
        : `all ${checked.length} images decode, no problems found`;
  return {
    root,
    layout: layout.kind,
    classes: layout.classes,
    splits,
    imbalance,
    files: { images: entries.length, decoded: checked.length - failed, failed, skipped: skippedPaths.length },
    findings,
    verdict,
    summary,
  };
}
