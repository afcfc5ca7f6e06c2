/**
 * The training transform's random draws have torchvision's *distribution*, not only its
 * word-for-word mapping (data-transforms.test.ts): headstart draws every sample's crop and flip
 * from its own keyed stream (seed, epoch, sample) and every epoch's order from (seed, epoch),
 * where torchvision draws all of them in sequence from torch's one generator. So the keyed
 * streams must give the same box and flip distributions as torch's generator (two-sample
 * Kolmogorov-Smirnov against torchvision's get_params), and draws that are independent across
 * epochs and samples; the epoch orders must mix classes into batches as torch.randperm does.
 * Each check is also run on a deliberately wrong sampler, to show it would catch one.
 * (Found matching on the real-data case by bench/e2e-real-pipelines.ts, issue 9.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { buildTrainTransform } from '../src/data/build-transforms.js';
import { identityGeometry, type Geometry, type Size } from '../src/data/transforms/geometry.js';
import type { Pipeline } from '../src/data/pipeline.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { keyedRandom, type RandomSource } from '../src/random.js';
import { epochOrder } from '../src/train/image-batches.js';
import { torchvisionMissing } from './data-fixtures.js';

const skip = torchvisionMissing;
const EPOCHS = 5;
const SAMPLES = 400;
const N = EPOCHS * SAMPLES;
const SOURCES: Size[] = [
  { width: 224, height: 224 },
  { width: 500, height: 375 },
];
/** Two-sample KS critical value at alpha = 0.001 for two samples of N. */
const KS_CRITICAL = 1.95 * Math.sqrt(2 / N);

interface Draw {
  left: number;
  top: number;
  width: number;
  height: number;
  flip: boolean;
}

function compose(t: Pipeline, source: Size, rng: RandomSource): Draw {
  let g: Geometry = identityGeometry(source);
  for (const s of t.steps) g = s.kind === 'geometric' ? s.compose(g, rng) : g;
  return { ...g.crop, flip: g.flip };
}

/** draws[epoch][sample] with the loader's keys (seed, epoch, sample), or with `key` instead. */
function headstartDraws(t: Pipeline, source: Size, key: (epoch: number, sample: number) => RandomSource = (e, i) => keyedRandom(0, e, i)): Draw[][] {
  return Array.from({ length: EPOCHS }, (_, e) => Array.from({ length: SAMPLES }, (_, i) => compose(t, source, key(e + 1, i))));
}

function torchvisionDraws(scale: [number, number]): { boxes: Record<string, number[][]>; flips: number[] } {
  const spec = { n: N, seed: 0, sources: SOURCES.map((s) => [s.width, s.height]), scale, ratio: [3 / 4, 4 / 3], p: 0.5 };
  const r = spawnSync('/usr/bin/python3', ['scripts/augment_distribution_reference.py', JSON.stringify(spec)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`augment_distribution_reference.py failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { boxes: Record<string, number[][]>; flips: number[] };
}

function ksD(a: number[], b: number[]): number {
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i], y[j]);
    while (i < x.length && x[i] <= v) i++;
    while (j < y.length && y[j] <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

function correlation(a: number[], b: number[]): number {
  const ma = a.reduce((s, v) => s + v, 0) / a.length;
  const mb = b.reduce((s, v) => s + v, 0) / b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Area fraction, log aspect ratio and the box centre: the quantities RandomResizedCrop's distribution is made of. */
function features(boxes: { left: number; top: number; width: number; height: number }[], s: Size): Record<string, number[]> {
  return {
    'area fraction': boxes.map((b) => (b.width * b.height) / (s.width * s.height)),
    'log aspect ratio': boxes.map((b) => Math.log(b.width / b.height)),
    'centre x': boxes.map((b) => (b.left + b.width / 2) / s.width),
    'centre y': boxes.map((b) => (b.top + b.height / 2) / s.height),
  };
}

/** The largest KS D between headstart's boxes and torchvision's, over the features, and which one. */
function worstKs(draws: Draw[][], tv: number[][], s: Size): { d: number; feature: string } {
  const ours = features(draws.flat(), s);
  const theirs = features(
    tv.map(([left, top, width, height]) => ({ left, top, width, height })),
    s,
  );
  let worst = { d: 0, feature: '' };
  for (const k of Object.keys(ours)) {
    const d = ksD(ours[k], theirs[k]);
    if (d > worst.d) worst = { d, feature: k };
  }
  return worst;
}

/** The largest |correlation| of a sample's draws between two epochs, and between neighbouring samples of one epoch. */
function worstDependence(draws: Draw[][]): number {
  const series: ((d: Draw) => number)[] = [(d) => d.width * d.height, (d) => d.left, (d) => d.top, (d) => (d.flip ? 1 : 0)];
  let worst = 0;
  for (const f of series) {
    for (let a = 0; a < EPOCHS; a++) {
      for (let b = a + 1; b < EPOCHS; b++) worst = Math.max(worst, Math.abs(correlation(draws[a].map(f), draws[b].map(f))));
      worst = Math.max(worst, Math.abs(correlation(draws[a].slice(0, -1).map(f), draws[a].slice(1).map(f))));
    }
  }
  return worst;
}

/** |r| allowed for SAMPLES pairs: about 4 standard errors (1/sqrt(400) = 0.05). */
const MAX_CORRELATION = 0.2;

const basic = buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 224, resizeSize: 256 });

test('RandomResizedCrop boxes and flips from the keyed streams have the distribution of torchvision on torch.manual_seed', { skip }, () => {
  const tv = torchvisionDraws([0.08, 1]);
  for (const s of SOURCES) {
    const draws = headstartDraws(basic, s);
    const worst = worstKs(draws, tv.boxes[`${s.width}x${s.height}`], s);
    assert.ok(worst.d < KS_CRITICAL, `${s.width}x${s.height}: KS D of ${worst.feature} ${worst.d.toFixed(3)} >= ${KS_CRITICAL.toFixed(3)}`);
    const flips = draws.flat().filter((d) => d.flip).length;
    // Binomial(N, 0.5): 3.29 standard deviations = alpha 0.001.
    assert.ok(Math.abs(flips - N / 2) < 3.29 * Math.sqrt(N / 4), `${s.width}x${s.height}: ${flips} flips of ${N}`);
  }
  const tvFlips = tv.flips.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(tvFlips - N / 2) < 3.29 * Math.sqrt(N / 4), `torchvision: ${tvFlips} flips of ${N}`);
  // The check sees a wrong sampler: scale (0.08, 0.5) instead of (0.08, 1).
  const narrow = buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 224, resizeSize: 256 }, { scale: [0.08, 0.5] });
  const wrong = worstKs(headstartDraws(narrow, SOURCES[0]), tv.boxes['224x224'], SOURCES[0]);
  assert.ok(wrong.d > 3 * KS_CRITICAL, `a scale range of (0.08, 0.5) went unnoticed: KS D ${wrong.d.toFixed(3)}`);
});

test("a sample's crops and flips are independent across epochs and of its neighbours'", () => {
  for (const s of SOURCES) {
    const r = worstDependence(headstartDraws(basic, s));
    assert.ok(r < MAX_CORRELATION, `${s.width}x${s.height}: |correlation| ${r.toFixed(3)} >= ${MAX_CORRELATION}`);
  }
  // The check sees streams keyed without the epoch (every epoch the same crops): r = 1.
  const stale = worstDependence(headstartDraws(basic, SOURCES[0], (_e, i) => keyedRandom(0, 1, i)));
  assert.ok(stale > 0.99, `streams that ignore the epoch went unnoticed: |correlation| ${stale.toFixed(3)}`);
});

test('epoch orders are fresh permutations that mix classes into batches as torch.randperm does', () => {
  // 4 classes x 50, stored class by class as ImageFolder lists them; batches of 8.
  const labels = Array.from({ length: 200 }, (_, i) => Math.floor(i / 50));
  const batch = 8;
  const orders = Array.from({ length: EPOCHS }, (_, e) => Array.from(epochOrder(labels.length, true, 0, e + 1)));
  const counts: number[] = [];
  for (const order of orders) {
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      labels.map((_, i) => i),
      'an epoch order is not a permutation',
    );
    for (let b = 0; b < order.length; b += batch) {
      for (let c = 0; c < 4; c++) counts.push(order.slice(b, b + batch).filter((i) => labels[i] === c).length);
    }
  }
  const m = counts.reduce((a, v) => a + v, 0) / counts.length;
  const variance = counts.reduce((a, v) => a + (v - m) ** 2, 0) / counts.length;
  // Hypergeometric: 8 of 200 without replacement, p = 1/4.
  const expected = (batch * 0.25 * 0.75 * (200 - batch)) / 199;
  assert.ok(variance > 0.7 * expected && variance < 1.4 * expected, `class count per batch: variance ${variance.toFixed(3)}, hypergeometric ${expected.toFixed(3)}`);
  const position = (order: number[]) => {
    const p = new Array<number>(order.length);
    order.forEach((i, k) => (p[i] = k));
    return p;
  };
  for (let a = 0; a < EPOCHS; a++) {
    for (let b = a + 1; b < EPOCHS; b++) {
      const r = correlation(position(orders[a]), position(orders[b]));
      assert.ok(Math.abs(r) < MAX_CORRELATION, `epochs ${a + 1} and ${b + 1}: positions correlate, r = ${r.toFixed(3)}`);
    }
  }
});
