import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { formatTick, niceTicks } from '../src/report/nice-ticks.js';
import { lineChart, lineChartSvg, sideBySide, svgDocument, type Series } from '../src/report/svg-plot.js';
import { compareSvg, curvesSvg, formatDuration } from '../src/report/curves.js';
import { confusionSvg } from '../src/report/confusion-svg.js';
import { heatColor } from '../src/report/heat-color.js';
import { svgToPng } from '../src/report/svg-to-png.js';
import { appendEpoch, createHistory, type History } from '../src/metrics/history.js';
import { ConfigError } from '../src/errors.js';
import { findAll, parseXml, textOf, type XmlElement } from './report-xml.js';

function history(name: string, n: number, seed: number): History {
  let h = createHistory({ name });
  let s = seed;
  const r = () => (s = (s * 16807) % 2147483647) / 2147483647;
  for (let e = 1; e <= n; e++) {
    const tl = 0.7 * Math.exp(-e / 4) + 0.1 + 0.05 * r();
    const vl = 0.5 * Math.exp(-e / 5) + 0.2 + 0.08 * r();
    h = appendEpoch(h, {
      epoch: e,
      train_loss: tl,
      train_acc: 1 - tl * 0.6,
      val_loss: vl,
      val_acc: Math.min(1, 1 - vl * 0.5 + 0.03 * r()),
      lr: 1e-3,
      seconds: 3,
      images_per_s: 40,
    });
  }
  return h;
}

/** Every number in a path's d, every numeric-looking attribute: finite. */
function assertNoBadNumbers(root: XmlElement): void {
  for (const el of findAll(root, () => true)) {
    for (const [k, v] of Object.entries(el.attrs)) {
      assert.ok(!/NaN|Infinity|undefined/.test(v), `<${el.name} ${k}="${v}">`);
      if (k === 'd') {
        for (const num of v.match(/-?[\d.]+(e-?\d+)?/g) ?? []) assert.ok(Number.isFinite(Number(num)), `bad number ${num} in d`);
      }
    }
    assert.ok(!/NaN|undefined/.test(el.text), `<${el.name}> text ${el.text}`);
  }
}

const seriesPaths = (root: XmlElement) => findAll(root, (e) => e.name === 'path' && e.attrs.class === 'series');

test('niceTicks picks round steps and covers the data', () => {
  const t = niceTicks(0, 1);
  assert.equal(t.step, 0.2);
  assert.deepEqual(t.values, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(t.decimals, 1);
  const u = niceTicks(0.13, 0.87, { count: 4 });
  assert.ok(u.min <= 0.13 && u.max >= 0.87);
  assert.ok([0.1, 0.2, 0.25].includes(u.step), `step ${u.step}`);
  const e = niceTicks(0.3, 25.7, { integer: true, extend: false, count: 6 });
  assert.equal(e.step, 5);
  assert.deepEqual(e.values, [5, 10, 15, 20, 25]);
  const small = niceTicks(0.5, 2.5, { integer: true, extend: false });
  assert.deepEqual(small.values, [1, 2]);
  const flat = niceTicks(0.7, 0.7);
  assert.ok(flat.min < 0.7 && flat.max > 0.7 && flat.values.length >= 2);
  const q = niceTicks(0, 0.0007);
  assert.ok(q.values.every((v) => formatTick(v, q.decimals) === v.toFixed(q.decimals)));
  assert.equal(niceTicks(0, 10, { count: 4 }).step, 2.5);
  assert.equal(formatTick(-0, 1), '0.0');
  assert.equal(formatTick(0.30000000000000004, 1), '0.3');
});

test('lineChartSvg: well-formed, one path per series, distinct styles, finite coordinates', async () => {
  const series: Series[] = [
    { name: 'train', x: [1, 2, 3, 4], y: [0.9, 0.6, 0.4, 0.3], dash: 'dashed' },
    { name: 'val', x: [1, 2, 3, 4], y: [0.8, 0.7, NaN, 0.5] },
    { name: 'single', x: [2], y: [0.5], dash: 'dotted' },
  ];
  const svg = lineChartSvg(series, { title: 'Loss & <friends>', xLabel: 'epoch', yLabel: 'loss', xInteger: true });
  const root = parseXml(svg);
  assert.equal(root.name, 'svg');
  assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
  assertNoBadNumbers(root);
  const paths = seriesPaths(root);
  assert.equal(paths.length, 3);
  assert.deepEqual(
    paths.map((p) => p.attrs['data-name']),
    ['train', 'val', 'single'],
  );
  assert.equal(new Set(paths.map((p) => p.attrs.stroke)).size, 3, 'distinct colours');
  assert.deepEqual(
    paths.map((p) => p.attrs['stroke-dasharray'] ?? ''),
    ['8 4', '', '2 3'],
  );
  // the NaN breaks val into two segments
  assert.equal((paths[1].attrs.d.match(/M/g) ?? []).length, 2);
  // markers: 4 + 3 + 1 points
  const markerGroups = findAll(root, (e) => e.name === 'g' && e.attrs.class === 'markers');
  assert.deepEqual(
    markerGroups.map((g) => g.children.length),
    [4, 3, 1],
  );
  assert.ok(textOf(root).includes('Loss & <friends>'), 'title escaped and restored');
  const legend = findAll(root, (e) => e.attrs.class === 'legend')[0];
  assert.deepEqual(findAll(legend, (e) => e.name === 'text').map(textOf), ['train', 'val', 'single']);
  // x ticks are the integer epochs
  const ticks = findAll(root, (e) => e.attrs.class === 'ticks')[0];
  const labels = findAll(ticks, (e) => e.name === 'text').map(textOf);
  assert.ok(
    ['1', '2', '3', '4'].every((l) => labels.includes(l)),
    labels.join(','),
  );

  const png = await sharp(Buffer.from(svg)).png().toBuffer({ resolveWithObject: true });
  assert.equal(png.info.width, Number(root.attrs.width));
  assert.equal(png.info.height, Number(root.attrs.height));
});

test('legend: placed in a corner free of data, else below the axes; text stays inside the figure', () => {
  const down: Series[] = [
    { name: 'a', x: [1, 2, 3, 4, 5], y: [1, 0.5, 0.3, 0.2, 0.15] },
    { name: 'b', x: [1, 2, 3, 4, 5], y: [0.9, 0.6, 0.4, 0.3, 0.25] },
  ];
  const fig = lineChart(down, { width: 480, height: 320 });
  const root = parseXml(svgDocument(fig));
  const box = findAll(root, (e) => e.name === 'rect' && e.attrs.class !== 'frame' && e.attrs['fill-opacity'] === '0.9')[0];
  assert.ok(box, 'legend box inside the plot');
  const bx = Number(box.attrs.x),
    by = Number(box.attrs.y),
    bw = Number(box.attrs.width),
    bh = Number(box.attrs.height);
  for (const p of seriesPaths(root)) {
    const nums = p.attrs.d.match(/-?[\d.]+/g)!.map(Number);
    for (let i = 0; i < nums.length; i += 2) {
      const inside = nums[i] >= bx && nums[i] <= bx + bw && nums[i + 1] >= by && nums[i + 1] <= by + bh;
      assert.ok(!inside, `vertex (${nums[i]}, ${nums[i + 1]}) under the legend`);
    }
  }
  // Long names cannot fit a corner: legend goes below and the figure grows.
  const long: Series[] = down.map((s, i) => ({ ...s, name: `a very long series name number ${i} that will not fit` }));
  const below = lineChart(long, { width: 480, height: 320 });
  assert.ok(below.height > 320);
  const r2 = parseXml(svgDocument(below));
  for (const t of findAll(r2, (e) => e.name === 'text' && !e.attrs.transform)) {
    const x = Number(t.attrs.x),
      y = Number(t.attrs.y);
    assert.ok(x >= 0 && x <= below.width && y >= 0 && y <= below.height, `text '${textOf(t)}' at ${x},${y} outside ${below.width}x${below.height}`);
  }
});

test('lineChart validates its input', () => {
  assert.throws(() => lineChart([]), { name: 'ConfigError', code: 'E_BAD_ARGUMENT' });
  assert.throws(
    () => lineChart([{ name: 'a', x: [1, 2], y: [1] }]),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /series\[0\].*same length/.test(e.message),
  );
  assert.throws(
    () => lineChart([{ name: 'a', x: [1], y: [1], color: 'red' }]),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /colour/.test(e.message),
  );
  assert.throws(
    () => lineChart([{ name: 'a', x: [1], y: [1] }], { colour: 'x' } as never),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /colour/.test(e.message),
  );
  // all-NaN series still renders (hidden path), no NaN coordinates
  const root = parseXml(lineChartSvg([{ name: 'a', x: [1, 2], y: [NaN, NaN] }]));
  assertNoBadNumbers(root);
  assert.equal(seriesPaths(root).length, 1);
});

test('curvesSvg: loss and accuracy panels, train and val, best epoch marked', () => {
  const h = history('fine-tuning', 25, 7);
  const root = parseXml(curvesSvg(h));
  assertNoBadNumbers(root);
  const paths = seriesPaths(root);
  assert.equal(paths.length, 4);
  assert.deepEqual(
    paths.map((p) => p.attrs['data-name']),
    ['train', 'val', 'train', 'val'],
  );
  const texts = findAll(root, (e) => e.name === 'text').map(textOf);
  assert.ok(texts.includes('Loss') && texts.includes('Accuracy'));
  assert.equal(findAll(root, (e) => e.attrs.class === 'annotation').length, 2);
  assert.equal(findAll(root, (e) => e.attrs.class === 'highlight').length, 1);
  // one epoch is enough to plot
  assert.equal(seriesPaths(parseXml(curvesSvg(history('x', 1, 3)))).length, 4);
  assert.throws(() => curvesSvg(createHistory()), { name: 'ConfigError', code: 'E_NO_DATA' });
});

test('compareSvg: two runs on one set of axes, colour per run and dash per phase, times in the title', async () => {
  const runs = [
    { name: 'fine-tuning', history: history('fine-tuning', 10, 7), seconds: 312 },
    { name: 'feature extraction', history: history('feature extraction', 10, 11) },
  ];
  const svg = compareSvg(runs);
  const root = parseXml(svg);
  assertNoBadNumbers(root);
  const paths = seriesPaths(root);
  assert.equal(paths.length, 8);
  const panel = paths.slice(0, 4);
  assert.deepEqual(
    panel.map((p) => p.attrs['data-name']),
    ['fine-tuning train', 'fine-tuning val', 'feature extraction train', 'feature extraction val'],
  );
  assert.equal(new Set(panel.map((p) => `${p.attrs.stroke}|${p.attrs['stroke-dasharray'] ?? ''}`)).size, 4);
  assert.notEqual(panel[0].attrs.stroke, panel[2].attrs.stroke);
  const title = findAll(root, (e) => e.name === 'text').map(textOf)[0];
  assert.equal(title, 'fine-tuning 5 min 12 s vs feature extraction 30 s');
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  assert.ok(png.length > 1000);
});

test('sideBySide lays figures out left to right', () => {
  const a = lineChart([{ name: 'a', x: [1, 2], y: [1, 2] }], { width: 300, height: 200, legend: 'none' });
  const b = lineChart([{ name: 'b', x: [1, 2], y: [2, 1] }], { width: 200, height: 250, legend: 'below' });
  const f = sideBySide([a, b], { gap: 10, title: 'T' });
  assert.equal(f.width, 510);
  assert.ok(f.height > b.height);
  const root = parseXml(svgDocument(f));
  assert.equal(seriesPaths(root).length, 2);
  assert.equal(findAll(root, (e) => e.attrs.class === 'legend').length, 1);
});

test('confusionSvg: k*k shaded cells with counts, labels, rotated long names', async () => {
  const cm = [
    [18, 1, 0, 1],
    [0, 20, 0, 0],
    [0, 0, 19, 1],
    [2, 0, 0, 18],
  ];
  const names = ['tshirt', 'trouser', 'sneaker', 'bag'];
  const svg = confusionSvg(cm, names);
  const root = parseXml(svg);
  assertNoBadNumbers(root);
  const cells = findAll(root, (e) => e.name === 'rect' && e.attrs.class === 'cell');
  assert.equal(cells.length, 16);
  assert.equal(cells[5].attrs.fill, heatColor(1)); // trouser row: 20/20 on the diagonal
  assert.equal(cells[4].attrs.fill, heatColor(0));
  const cellTexts = findAll(findAll(root, (e) => e.attrs.class === 'cells')[0], (e) => e.name === 'text').map(textOf);
  assert.deepEqual(cellTexts, cm.flat().map(String));
  const labels = findAll(findAll(root, (e) => e.attrs.class === 'labels')[0], (e) => e.name === 'text').map(textOf);
  assert.equal(labels.filter((l) => l === 'sneaker').length, 2);
  const ten = Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 50 : 1)));
  const longNames = ten.map((_, i) => `a long class name ${i}`);
  const r10 = parseXml(confusionSvg(ten, longNames));
  assert.ok(findAll(r10, (e) => e.name === 'text' && /rotate\(-45/.test(e.attrs.transform ?? '')).length === 10);
  await sharp(Buffer.from(svg)).png().toBuffer();
  assert.throws(() => confusionSvg(cm, names.slice(1)), { name: 'ConfigError', code: 'E_BAD_ARGUMENT' });
  assert.throws(() => confusionSvg([[1, 2]], ['a']), { name: 'ConfigError', code: 'E_SHAPE_MISMATCH' });
});

test('formatDuration', () => {
  assert.equal(formatDuration(3.21), '3.2 s');
  assert.equal(formatDuration(42.4), '42 s');
  assert.equal(formatDuration(185), '3 min 05 s');
  assert.equal(formatDuration(3725), '1 h 02 min');
});

test('a real XML parser (Python ElementTree) accepts the SVGs', (t) => {
  if (!existsSync('/usr/bin/python3')) {
    t.skip('/usr/bin/python3 is not installed');
    return;
  }
  const docs = [
    curvesSvg(history('a & b', 5, 1)),
    compareSvg([
      { name: '<ft>', history: history('x', 3, 2) },
      { name: 'fe', history: history('y', 3, 4) },
    ]),
    confusionSvg(
      [
        [1, 2],
        [3, 4],
      ],
      ['"quoted"', "it's"],
    ),
  ];
  const script = `
import json, sys, xml.etree.ElementTree as ET
n = 0
for doc in json.load(sys.stdin):
    root = ET.fromstring(doc)
    n += sum(1 for p in root.iter('{http://www.w3.org/2000/svg}path') if p.get('class') == 'series')
print(n)
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(docs), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '12');
});

test('svgToPng rasterises at the requested scale', async () => {
  const svg = lineChartSvg([{ name: 'a', x: [1, 2, 3], y: [3, 1, 2] }], { width: 300, height: 200 });
  const png1 = await sharp(await svgToPng(svg, { scale: 1 })).metadata();
  const png2 = await sharp(await svgToPng(svg)).metadata();
  assert.equal(png1.width, 300);
  assert.equal(png2.width, 600);
  assert.equal(png2.format, 'png');
  await assert.rejects(() => svgToPng(svg, { scale: 100 }), { name: 'ConfigError', code: 'E_BAD_OPTION' });
});
