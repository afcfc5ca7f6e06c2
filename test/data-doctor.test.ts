/**
 * doctor() on the fixture dataset names every special file with the right finding, counts
 * per split and class, returns plain JSON data, leaves the dataset untouched, and says
 * "errors" for a dataset training cannot use. Also `headstart doctor` (doctorCommand).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { doctorCommand } from '../src/cli/commands/doctor.js';
import type { CommandIO } from '../src/cli/command-io.js';
import { doctor, type DoctorReport, type FindingKind } from '../src/data/doctor.js';
import { formatDoctorReport } from '../src/data/format-doctor-report.js';
import { buildFixtureDataset, SPECIAL, tempDir, writeImage } from './data-fixtures.js';

let root: string;
let report: DoctorReport;

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p, createHash('sha1').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

before(async () => {
  root = await buildFixtureDataset();
  const before = snapshot(root);
  const progress: number[] = [];
  report = await doctor(root, { inputSize: 32, onProgress: (done) => progress.push(done) });
  assert.deepEqual(snapshot(root), before, 'the doctor never modifies the dataset');
  assert.equal(progress.at(-1), report.files.images);
});

test('every special file is named with its finding', () => {
  const expected: [string, FindingKind][] = [
    [SPECIAL.truncated, 'truncated'],
    [SPECIAL.zeroByte, 'empty-file'],
    [SPECIAL.text, 'not-an-image'],
    [SPECIAL.pngAsJpg, 'extension-mismatch'],
    [SPECIAL.cmyk, 'cmyk'],
    [SPECIAL.exif, 'exif-rotated'],
    [SPECIAL.tiny, 'tiny-image'], // 1x1: a warning, not a note
    [SPECIAL.png16, 'high-bit-depth'],
    [SPECIAL.rgba, 'alpha'],
    [SPECIAL.dupTrain, 'leak'],
    [SPECIAL.dupVal, 'leak'],
    [SPECIAL.unicode, 'unusual-name'],
    [SPECIAL.large, 'large-image'],
    [SPECIAL.hidden, 'skipped-files'],
    [SPECIAL.nonImage, 'skipped-files'],
  ];
  for (const [path, kind] of expected) {
    const f = report.findings.find((x) => x.kind === kind && x.paths.includes(path));
    assert.ok(f, `${kind} finding for ${path}`);
    assert.ok(f.message.includes(path), `the message names ${path}: ${f.message}`);
  }
  const text = formatDoctorReport(report);
  for (const [path] of expected) assert.ok(text.includes(path), `the text report names ${path}`);
  // Nothing else is flagged as broken.
  const broken = report.findings.filter((f) => ['truncated', 'empty-file', 'not-an-image', 'unreadable'].includes(f.kind)).flatMap((f) => f.paths);
  assert.deepEqual(broken.sort(), [SPECIAL.truncated, SPECIAL.zeroByte, SPECIAL.text].sort());
});

test('counts per split and class, verdict, and a JSON round trip', () => {
  assert.deepEqual(report.classes, ['bird', 'cat', 'dog']);
  assert.deepEqual(
    report.splits.map((s) => s.name),
    ['train', 'val', 'test'],
  );
  const train = report.splits[0];
  // 6 generated per class + bird: cmyk, exif, rgba, huge; cat: one-pixel, dup (truncated and empty fail);
  // dog: png-as-jpg, 16-bit, unicode (the text file fails).
  assert.deepEqual(train.perClass, { bird: 10, cat: 8, dog: 9 });
  assert.equal(train.failed, 3);
  assert.deepEqual(report.splits[1].perClass, { bird: 3, cat: 4, dog: 3 });
  assert.equal(report.splits[2].unlabelled, 3);
  assert.equal(report.verdict, 'warnings');
  assert.deepEqual(report.files, { images: 43, decoded: 40, failed: 3, skipped: 2 });
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  assert.match(formatDoctorReport(report), /Verdict: USABLE WITH WARNINGS/);
});

test('structural errors make the verdict "errors": empty class, class mismatch, undecodable class', async () => {
  const bad = tempDir('doctor-bad');
  await writeImage(join(bad, 'train/cat/a.png'), 40, 40, 1);
  await writeImage(join(bad, 'train/cat/b.png'), 40, 40, 2);
  mkdirSync(join(bad, 'train/dog'), { recursive: true });
  mkdirSync(join(bad, 'train/owl'), { recursive: true });
  writeFileSync(join(bad, 'train/owl/broken.jpg'), 'nope');
  await writeImage(join(bad, 'val/cat/c.png'), 40, 40, 3);
  await writeImage(join(bad, 'val/eel/d.png'), 40, 40, 4);
  for (let i = 0; i < 8; i++) await writeImage(join(bad, `train/cat/x${i}.png`), 40, 40, 10 + i);
  const r = await doctor(bad, { inputSize: 32 });
  assert.equal(r.verdict, 'errors');
  const kinds = r.findings.filter((f) => f.severity === 'error').map((f) => `${f.kind}:${f.paths.join(',')}`);
  assert.ok(kinds.includes('empty-class:train/dog'), kinds.join(' | '));
  assert.ok(
    kinds.some((k) => k.startsWith('class-mismatch:')),
    kinds.join(' | '),
  );
  assert.ok(kinds.includes('no-usable-image:train/owl'), kinds.join(' | '));
  assert.match(r.findings.find((f) => f.kind === 'class-mismatch')!.message, /train \[cat, dog, owl\], val \[cat, eel\]/);
});

function captureIO(): CommandIO & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

test('headstart doctor: text and --json, exit codes 0 / 1 / 2', async () => {
  const text = captureIO();
  assert.equal(await doctorCommand([root, '--input-size', '32'], text), 0);
  assert.match(text.stdout, /Verdict: USABLE WITH WARNINGS/);
  assert.ok(text.stdout.includes(SPECIAL.truncated));

  const json = captureIO();
  assert.equal(await doctorCommand([root, '--json', '--input-size', '32'], json), 0);
  const parsed = JSON.parse(json.stdout) as DoctorReport;
  assert.equal(parsed.files.failed, 3);

  const missing = captureIO();
  assert.equal(await doctorCommand([join(root, 'nope')], missing), 1);
  assert.match(missing.stdout, /NOT USABLE/);

  const usage = captureIO();
  assert.equal(await doctorCommand([root, '--frobnicate'], usage), 2);
  assert.match(usage.stderr, /frobnicate/);
  assert.equal(await doctorCommand([], captureIO()), 2);
  assert.equal(await doctorCommand([root, '--input-size', 'big'], captureIO()), 2);
  const help = captureIO();
  assert.equal(await doctorCommand(['--help'], help), 0);
  assert.match(help.stdout, /usage: headstart doctor/);
});
