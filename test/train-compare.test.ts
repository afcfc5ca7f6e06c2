/**
 * `compare --seeds N --fractions`: each mode N times (features extracted once, cold, then
 * reused), mean and 95% interval per mode, McNemar's exact test on the same val images, a
 * verdict, a learning curve, and compare.html with both runs on every card, chart and table
 * and a link to each run's report; compare.png has one legend. The embedded dataset at a
 * reduced setting prints the intervals, the paired test and the verdict.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { compareCommand } from '../src/cli/commands/compare.js';
import { mcnemarExact } from '../src/metrics/paired-test.js';
import { registerModel } from '../src/models/registry.js';
import { compare } from '../src/train/compare.js';
import { findAll, parseXml } from './report-xml.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

registerModel(tinySpec);

test('compare --seeds 3 --fractions: intervals, paired test, cold timing, verdict, learning curve, one report with both runs', async () => {
  const root = await makeColourDataset({ train: 8, val: 4 });
  const out = await tempDir();
  const r = await compare(root, { model: 'tiny_cnn', weights: 'none', epochs: 2, lr: 0.05, threads: 1, seeds: 3, fractions: [0.5, 1], out });
  assert.equal(r.interrupted, false);
  assert.deepEqual(r.seeds, [0, 1, 2]);
  for (const m of [r.modes.finetune, r.modes.features]) {
    assert.equal(m.runs.length, 3);
    assert.equal(m.accuracy.n, 3);
    const accs = m.runs.map((x) => x.bestValAcc);
    assert.ok(Math.abs(m.accuracy.mean - accs.reduce((a, b) => a + b) / 3) < 1e-12);
    assert.ok(m.accuracy.lower <= m.accuracy.mean && m.accuracy.mean <= m.accuracy.upper);
    assert.ok(m.accuracy.lower >= 0 && m.accuracy.upper <= 1, 'an accuracy interval stays within [0, 1]');
  }
  // Timing is cold: the first feature-extraction run computed its features (a fresh cache), later seeds reuse them.
  assert.equal(r.modes.features.extraction?.hit, false);
  assert.ok(r.modes.features.extraction.seconds > 0);
  // (--weights none: each seed draws another random backbone, so each seed extracts its own features.)
  assert.deepEqual(
    r.modes.features.runs.map((x) => x.featureCache?.hit),
    [false, false, false],
  );
  assert.ok(existsSync(join(out, 'feature-cache')));
  // The paired test: 12 val images, each counted once.
  const p = r.paired;
  assert.equal(p.images, 12);
  assert.equal(p.onlyFirst + p.onlySecond + p.bothRight + p.bothWrong, 12);
  assert.equal(p.p, mcnemarExact(p.onlyFirst, p.onlySecond));
  assert.equal(p.perSeed.length, 3);
  assert.match(r.verdict, /^(fine-tuning|feature extraction) is (as accurate here \(no significant difference, p = [\d.]+|more accurate here \(by [\d.]+ points, p [=<] [\d.]+\))/);
  assert.match(r.verdict, /\d+(\.\d)?x cheaper/);
  // Learning curve: half the training images, then all; nested subsets of 4 and 8 images per class.
  assert.deepEqual(
    r.curve!.points.map((q) => [q.fraction, q.trainImages]),
    [
      [0.5, 12],
      [1, 24],
    ],
  );
  assert.equal(r.curve!.doubling!.features.n, 3);
  assert.match(r.curve!.summary, /doubling the training images would likely bring: feature extraction [+-][\d.]+ points \(95% interval/);
  // compare.html: both modes on the cards, the runs table, the epoch table, links to every run's report.
  const html = readFileSync(r.reportPath, 'utf8');
  const doc = parseXml(html);
  assert.equal(doc.name, 'html');
  assert.equal(findAll(doc, (e) => e.name === 'script' || e.name === 'link').length, 0, 'self-contained');
  const modeCards = findAll(doc, (e) => e.attrs.class === 'mode');
  assert.equal(modeCards.length, 2, 'a column of cards per mode');
  for (const m of modeCards) assert.ok(findAll(m, (e) => e.attrs.class === 'card').length >= 2);
  assert.match(html, /<h3>fine-tuning<\/h3>/);
  assert.match(html, /<h3>feature extraction<\/h3>/);
  const links = [...html.matchAll(/<a href="([^"]+)">report<\/a>/g)].map((m) => m[1]);
  assert.equal(links.length, 6);
  for (const l of links) assert.ok(existsSync(join(out, l)), l);
  assert.match(html, /<th colspan="5">fine-tuning<\/th><th colspan="5">feature extraction<\/th>/);
  assert.match(html, /Learning curve/);
  assert.match(html, /cold: [\d.]+ s of it computing the features/);
  // compare.svg (and so compare.png): one legend, not one per panel.
  const svg = readFileSync(r.svgPath, 'utf8');
  assert.equal(svg.match(/class="legend"/g)?.length, 1);
  const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as { paired: { p: number }; verdict: string };
  assert.equal(json.paired.p, p.p);
  assert.equal(json.verdict, r.verdict);
});

test('compare --seeds 3 on the embedded dataset prints the intervals, the paired test and the verdict (reduced: 32 px, 1 epoch)', async () => {
  const data = fileURLToPath(new URL('../assets/fashion-mnist-mini', import.meta.url));
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) } satisfies CommandIO & { stdout: string; stderr: string };
  const out = await tempDir();
  const code = await compareCommand(['--model', 'mobilenet_v2_offline', data, '--seeds', '3', '--epochs', '1', '--input-size', '32', '--resize-size', '32', '--out', out], io);
  assert.equal(code, 0, io.stderr);
  const s = io.stdout;
  assert.match(s, /^fine-tuning +best val accuracy \d+\.\d\d% \(95% interval \d+\.\d\d% to \d+\.\d\d%, 3 seeds\)$/m);
  assert.match(s, /^feature extraction +best val accuracy \d+\.\d\d% \(95% interval \d+\.\d\d% to \d+\.\d\d%, 3 seeds\)$/m);
  assert.match(s, /time: first run [\d.]+ s \(cold, [\d.]+ s of it extracting features\); mean [\d.]+ s per run over 3 seeds/);
  assert.match(s, /^paired test \(McNemar exact, 80 val images; each val image: right in at least half of the 3 seeds\): right only with fine-tuning \d+, only with feature extraction \d+, p = /m);
  assert.match(s, /^verdict: (fine-tuning|feature extraction) is (as|more) accurate here/m);
  // Pretrained weights: the first seed extracts the features cold, the later seeds reuse them.
  const json = JSON.parse(readFileSync(join(out, 'compare.json'), 'utf8')) as { features: { runs: Array<{ cache_hit: boolean }> } };
  assert.deepEqual(
    json.features.runs.map((x) => x.cache_hit),
    [false, true, true],
  );
});
