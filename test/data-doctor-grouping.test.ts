/**
 * The doctor's text report groups identical notes (counts and a few examples) instead of
 * listing the embedded dataset's 320 greyscale, smaller-than-the-crop images one by one; a
 * 1x1 image is a warning, not a note.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { doctor } from '../src/data/doctor.js';
import type { DoctorReport, Finding } from '../src/data/doctor.js';
import { formatDoctorReport } from '../src/data/format-doctor-report.js';
import { makeColourDataset } from './train-fixtures.js';

test('the embedded dataset: one line per kind of note, with the count and three examples', async () => {
  const report = await doctor(new URL('../assets/fashion-mnist-mini', import.meta.url).pathname);
  const grey = report.findings.filter((f) => f.kind === 'grayscale');
  assert.equal(grey.length, 320, 'the JSON keeps one finding per file');
  const text = formatDoctorReport(report);
  const lines = text.split('\n');
  const greyLines = lines.filter((l) => /greyscale/.test(l));
  assert.deepEqual(greyLines.length, 2, greyLines.join('\n')); // the title and one grouped line
  assert.match(greyLines[1], /^ {6}320 files are greyscale; they are expanded to RGB: e\.g\. `[^`]+`, `[^`]+`, `[^`]+` and 317 more$/);
  assert.ok(lines.some((l) => /^ {6}320 files are 28x28, smaller than the 224px crop \(they will be upscaled\): e\.g\. /.test(l)));
  assert.ok(lines.length < 30, `a short report (${lines.length} lines)`);
  assert.ok(formatDoctorReport(report, { maxPerKind: Infinity }).split('\n').length > 640, '--all still lists every file');
});

test('a 1x1 image is a warning with what it means', async () => {
  const root = await makeColourDataset({ train: 2, val: 1 });
  await sharp(Buffer.from([10, 20, 30]), { raw: { width: 1, height: 1, channels: 3 } })
    .png()
    .toFile(`${root}/train/red/dot.png`);
  const report = await doctor(root, { inputSize: 16 });
  const tiny = report.findings.filter((f) => f.kind === 'tiny-image');
  assert.equal(tiny.length, 1);
  assert.equal(tiny[0].severity, 'warning');
  assert.match(tiny[0].message, /`train\/red\/dot\.png` is 1x1: too small/);
  assert.equal(report.verdict, 'warnings');
});

test('a report of 100,000 findings of one kind is formatted in linear time (one line per kind of note)', () => {
  const n = 100_000;
  const findings: Finding[] = [];
  for (let i = 0; i < n; i++) {
    const rel = `train/c${i % 10}/${String(i).padStart(6, '0')}.jpg`;
    findings.push({ severity: 'info', kind: 'small-image', message: `\`${rel}\` is 64x48, smaller than the 224px crop (it will be upscaled)`, paths: [rel] });
    if (i % 1000 === 0) findings.push({ severity: 'warning', kind: 'truncated', message: `\`${rel}\` is truncated: premature end`, paths: [rel] });
  }
  const report: DoctorReport = {
    root: '/data',
    layout: 'splits',
    classes: ['c0'],
    splits: [],
    imbalance: [],
    files: { images: n, decoded: n, failed: 0, skipped: 0 },
    findings,
    verdict: 'warnings',
    summary: '100 warning(s)',
  };
  const t = performance.now();
  const text = formatDoctorReport(report);
  const seconds = (performance.now() - t) / 1000;
  // Copying each group's list per finding (the old code) took minutes here; linear is well under a second.
  assert.ok(seconds < 20, `formatted in ${seconds.toFixed(1)} s`);
  assert.match(text, /^ {6}100000 files are 64x48, smaller than the 224px crop \(they will be upscaled\): e\.g\. `train\/c0\/000000\.jpg`, /m);
  assert.match(text, /truncated[^\n]*\(100\)/i);
  assert.match(text, /\.\.\. and 80 more \(use --all or --json\)/);
});
