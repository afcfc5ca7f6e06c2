import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { renderHtmlReport, type HtmlReportInput } from '../src/report/html-report.js';
import { appendEpoch, createHistory, type History } from '../src/metrics/history.js';
import { classificationMetrics } from '../src/metrics/classification.js';
import { heatColor } from '../src/report/heat-color.js';
import { ConfigError } from '../src/errors.js';
import { findAll, parseXml, textOf, type XmlElement } from './report-xml.js';

function history(name: string, accs: number[]): History {
  let h = createHistory({ name });
  accs.forEach((a, i) => {
    h = appendEpoch(h, {
      epoch: i + 1,
      train_loss: 1 / (i + 1),
      train_acc: a * 0.95,
      val_loss: 1.1 / (i + 1),
      val_acc: a,
      lr: i < 2 ? 1e-3 : 1e-4,
      seconds: 2 + i,
      images_per_s: 30 + i,
    });
  });
  return h;
}

const classes = ['tshirt', 'trouser', 'sneaker', 'bag <b>&'];
// class 2 never predicted
const labels = [0, 0, 1, 1, 2, 2, 3, 3];
const preds = [0, 1, 1, 1, 0, 3, 3, 3];

async function input(): Promise<HtmlReportInput> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } })
    .png()
    .toBuffer();
  return {
    classes,
    history: history('fine-tuning', [0.5, 0.75, 0.7]),
    metrics: classificationMetrics(labels, preds, 4, { classNames: classes }),
    config: { model: 'resnet18', optimizer: { name: 'sgd', lr: 0.001 }, tags: ['a', 'b'] },
    compare: [
      { name: 'fine-tuning', history: history('fine-tuning', [0.5, 0.75, 0.7]), seconds: 90 },
      { name: 'feature extraction', history: history('feature extraction', [0.4, 0.6, 0.65]) },
    ],
    mistakes: Array.from({ length: 5 }, (_, i) => ({ file: `val/bag/${i}.png`, label: 'bag', predicted: 'tshirt', confidence: 0.9 - i / 10, image: png })),
    timings: { 'feature cache': 4.5 },
    generatedAt: '2025-01-01T00:00:00Z',
  };
}

const byClass = (root: XmlElement, cls: string) => findAll(root, (e) => (e.attrs.class ?? '').split(' ').includes(cls));

test('report.html is well-formed, self-contained and holds every section', async () => {
  const html = renderHtmlReport(await input(), { maxMistakes: 3 });
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  const root = parseXml(html);
  assert.equal(root.name, 'html');
  // self-contained: no scripts, no external resources
  assert.equal(findAll(root, (e) => e.name === 'script' || e.name === 'link').length, 0);
  for (const el of findAll(root, (e) => 'src' in e.attrs || 'href' in e.attrs)) {
    assert.match(el.attrs.src ?? el.attrs.href, /^data:image\/png;base64,/);
  }
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  // (base64 payloads may spell anything)
  const bad = /.{0,60}(\bNaN\b|="undefined"|>undefined<|\[object ).{0,30}/.exec(html.replace(/base64,[A-Za-z0-9+/=]+/g, ''));
  assert.equal(bad, null, `found: ${bad?.[0]}`);
  // curves and compare: inline SVG with 4 and 8 series
  const svgs = findAll(root, (e) => e.name === 'svg');
  assert.equal(svgs.length, 2);
  assert.deepEqual(
    svgs.map((s) => findAll(s, (e) => e.name === 'path' && e.attrs.class === 'series').length),
    [4, 8],
  );
  // best epoch highlighted in the epoch table
  const best = byClass(root, 'best');
  assert.equal(best.length, 1);
  assert.equal(textOf(best[0].children[0]), '2');
  // per-class table: 4 classes + macro row, undefined precision flagged
  const perClass = byClass(root, 'per-class')[0];
  const rows = findAll(perClass, (e) => e.name === 'tr').slice(1);
  assert.equal(rows.length, 5);
  assert.equal(textOf(rows[2].children[0]), 'sneaker');
  assert.equal(textOf(rows[2].children[1]), '0 †');
  assert.equal(textOf(rows[3].children[0]), 'bag <b>&');
  // confusion matrix: heat-mapped 4x4 cells
  const cm = byClass(root, 'cm')[0];
  const cmRows = findAll(cm, (e) => e.name === 'tr').slice(1);
  assert.equal(cmRows.length, 4);
  const cells = cmRows.map((r) => r.children.filter((c) => c.name === 'td').slice(0, 4));
  assert.deepEqual(
    cells.map((r) => r.map(textOf).map(Number)),
    [
      [1, 1, 0, 0],
      [0, 2, 0, 0],
      [1, 0, 0, 1],
      [0, 0, 0, 2],
    ],
  );
  assert.match(cells[1][1].attrs.style, new RegExp(`background:${heatColor(1)}`));
  // mistakes capped, with embedded thumbnails
  const thumbs = byClass(root, 'thumb');
  assert.equal(thumbs.length, 3);
  assert.equal(findAll(thumbs[0], (e) => e.name === 'img').length, 1);
  // config flattened, classes listed
  const config = textOf(byClass(root, 'config')[0]);
  assert.ok(config.includes('optimizer · learning rate') && config.includes('0.001') && config.includes('a, b'), config);
  const items = findAll(byClass(root, 'classes')[0], (e) => e.name === 'li').map(textOf);
  assert.deepEqual(items, classes);
  assert.ok(textOf(root).includes('feature cache'));
  assert.ok(textOf(root).includes('95% Wilson interval'));
});

test('renderHtmlReport: minimal input, and named errors for inconsistent input', async () => {
  const html = renderHtmlReport({ classes: ['a', 'b'], history: createHistory() });
  const root = parseXml(html);
  assert.equal(findAll(root, (e) => e.name === 'svg').length, 0);
  assert.doesNotMatch(html, /\bNaN\b|>undefined<|="undefined"/);
  const full = await input();
  assert.throws(
    () => renderHtmlReport({ ...full, classes: ['a', 'b'] }),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_ARGUMENT' && /4 classes but 2/.test(e.message),
  );
  assert.throws(() => renderHtmlReport({ ...full, classes: [] }), { name: 'ConfigError', code: 'E_BAD_ARGUMENT' });
  assert.throws(
    () => renderHtmlReport(full, { theme: 'dark' } as never),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /theme/.test(e.message),
  );
});

test('a real XML parser (Python ElementTree) accepts report.html', async (t) => {
  if (!existsSync('/usr/bin/python3')) {
    t.skip('/usr/bin/python3 is not installed');
    return;
  }
  const html = renderHtmlReport(await input());
  // ElementTree does not take a DOCTYPE without a system id in all versions: drop it.
  const r = spawnSync('/usr/bin/python3', ['-c', 'import sys, xml.etree.ElementTree as ET; r = ET.fromstring(sys.stdin.read()); print(r.tag, len(list(r.iter("tr"))))'], {
    input: html.replace('<!DOCTYPE html>', ''),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^html \d+/);
});
