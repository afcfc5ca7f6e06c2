/**
 * `compare(dataRoot, options)`: the two classic recipes with the same budget (same data,
 * epochs and seeds; each mode with its recipe's optimiser settings) — fine-tuning the whole network and training only the new
 * classifier on frozen features — each run `seeds` times, then:
 *   - the mean best val accuracy of each mode with its 95% Student-t interval over the seeds;
 *   - McNemar's exact test on the same val images (paired: which images one mode gets right
 *     and the other wrong), per seed and on each image's majority over the seeds;
 *   - the time each mode took, cold: the first feature-extraction run computes its features
 *     (a fresh cache in <out>/feature-cache unless --cache-dir is given) and its time includes
 *     that; later seeds reuse the features, as any later run would;
 *   - a verdict in plain words, and with `fractions` a learning curve (both modes on a
 *     stratified part of the training images, same seeds) and what doubling the data would
 *     likely bring;
 *   - both first-seed runs on one set of loss and accuracy curves (compare.svg/.png), and
 *     compare.html / compare.json with everything above and links to every run's report.
 */
import { makeOutDir } from './out-dir.js';
import { join, relative, resolve } from 'node:path';
import { mcnemarTest, meanInterval, type McNemarResult, type MeanInterval } from '../metrics/paired-test.js';
import { parseCompareOptions, requestedModel, type CompareOptions } from './options.js';
import type { TrainHooks } from './events.js';
import { compareSvg, type CompareRun } from '../report/curves.js';
import { renderCompareReport } from '../report/compare-report.js';
import { svgToPng } from '../report/svg-to-png.js';
import { writeFileAtomic } from '../atomic-write.js';
import { train, type TrainResult } from './train.js';

export const COMPARE_NAMES = { finetune: 'fine-tuning', features: 'feature extraction' } as const;
export type CompareMode = keyof typeof COMPARE_NAMES;
const MODES: readonly CompareMode[] = ['finetune', 'features'];

export interface CompareModeSummary {
  name: string;
  /** One run per seed, in seed order. */
  runs: TrainResult[];
  /** Best val accuracy over the seeds: mean and 95% interval. */
  accuracy: MeanInterval;
  /** Wall time per run over the seeds. */
  seconds: MeanInterval;
  /** Wall time of the first run, including feature extraction from a cold cache (features mode). */
  coldSeconds: number;
  /** Feature extraction of the first run: seconds and whether the cache already held the features. */
  extraction?: { seconds: number; hit: boolean };
}

export interface PairedComparison extends McNemarResult {
  /** How each image's correctness was formed from the seeds. */
  rule: string;
  images: number;
  perSeed: Array<{ seed: number; p: number; onlyFinetune: number; onlyFeatures: number }>;
}

export interface LearningCurve {
  points: Array<{ fraction: number; trainImages: number; finetune: MeanInterval; features: MeanInterval }>;
  /** Points of val accuracy per doubling of the training images, from the last step of the curve, over the seeds. */
  doubling: Record<CompareMode, MeanInterval> | null;
  /** The step the doubling estimate comes from. */
  from: [number, number] | null;
  summary: string;
}

export interface CompareResult {
  out: string;
  /** The first seed's runs (the curves in compare.svg). */
  finetune: TrainResult;
  features: TrainResult;
  seeds: number[];
  modes: Record<CompareMode, CompareModeSummary>;
  paired: PairedComparison;
  curve: LearningCurve | null;
  verdict: string;
  /** compare.svg / compare.png / compare.html in `out`. */
  svgPath: string;
  pngPath: string;
  reportPath: string;
  /** Ratio of the fine-tuning run's wall time to the feature-extraction run's, both cold (first seed). */
  speedup: number;
  interrupted: boolean;
}

const pts = (v: number) => `${v >= 0 ? '+' : ''}${(100 * v).toFixed(1)}`;
const formatP = (p: number) => (p < 0.001 ? 'p < 0.001' : `p = ${p < 0.01 ? p.toFixed(3) : p.toFixed(2)}`);
const ratio = (r: number) => (r >= 10 ? r.toFixed(0) : r.toFixed(1));

export async function compare(dataRoot: string, options?: CompareOptions, hooks: TrainHooks = {}): Promise<CompareResult> {
  const o = parseCompareOptions(options);
  const model = requestedModel(o);
  const name = typeof model === 'string' ? model : model.name;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = resolve(o.out ?? join('runs', `${stamp}-${name}-compare`));
  await makeOutDir(out);
  const given = { ...(options ?? {}) } as Record<string, unknown>;
  for (const k of ['out', 'seeds', 'fractions', 'seed']) delete given[k];
  // A fresh cache, so the first feature-extraction run is timed cold (unless the user names one).
  if (o.cacheDir === undefined) given.cacheDir = join(out, 'feature-cache');
  const seeds = Array.from({ length: o.seeds }, (_, i) => o.seed + i);
  const folder = (mode: CompareMode, seed: number, fraction = 1) =>
    o.seeds === 1 && fraction === 1 ? join(out, mode) : join(out, fraction === 1 ? `${mode}-seed${seed}` : `curve/${mode}-f${fraction}-seed${seed}`);

  const runs: Record<CompareMode, TrainResult[]> = { finetune: [], features: [] };
  let stopped: TrainResult | null = null;
  const run = async (mode: CompareMode, seed: number, fraction = 1): Promise<TrainResult | null> => {
    if (stopped) return null;
    const r = await train(dataRoot, { ...given, mode, seed, ...(fraction < 1 ? { trainFraction: fraction } : {}), out: folder(mode, seed, fraction) }, hooks);
    if (r.interrupted) stopped = r;
    return r;
  };
  for (const seed of seeds) {
    for (const mode of MODES) {
      const r = await run(mode, seed);
      if (r) runs[mode].push(r);
    }
  }
  const curveRuns: Array<{ fraction: number; mode: CompareMode; seed: number; result: TrainResult }> = [];
  const fractions = [...new Set(o.fractions ?? [])].sort((a, b) => a - b);
  if (fractions.length) {
    for (const fraction of fractions.filter((f) => f < 1)) {
      for (const seed of seeds) {
        for (const mode of MODES) {
          const r = await run(mode, seed, fraction);
          if (r) curveRuns.push({ fraction, mode, seed, result: r });
        }
      }
    }
  }
  const svgPath = join(out, 'compare.svg');
  const pngPath = join(out, 'compare.png');
  const reportPath = join(out, 'compare.html');
  const first = { finetune: runs.finetune[0] ?? stopped!, features: runs.features[0] ?? runs.finetune[0] ?? stopped! };
  if (stopped) {
    return { out, ...first, seeds, modes: {} as CompareResult['modes'], paired: emptyPaired(), curve: null, verdict: 'interrupted', svgPath, pngPath, reportPath, speedup: 0, interrupted: true };
  }

  const modes = { finetune: summarise('finetune', runs.finetune), features: summarise('features', runs.features) };
  const paired = pairedComparison(runs.finetune, runs.features, seeds);
  const curve = fractions.length ? learningCurve(fractions, seeds, runs, curveRuns) : null;
  const verdict = verdictLine(modes, paired, o.cacheDir !== undefined);
  const speedup = modes.features.coldSeconds > 0 ? modes.finetune.coldSeconds / modes.features.coldSeconds : 0;

  const curves: CompareRun[] = MODES.map((m) => ({ name: COMPARE_NAMES[m], history: first[m].history, seconds: first[m].seconds }));
  const svg = compareSvg(curves);
  await writeFileAtomic(svgPath, svg);
  await writeFileAtomic(pngPath, await svgToPng(svg));
  const link = (r: TrainResult) => relative(out, join(r.out, 'report.html')).split('\\').join('/');
  const html = renderCompareReport({
    model: first.finetune.config.model,
    dataRoot: resolve(dataRoot),
    epochs: first.finetune.config.epochs,
    recipe: first.finetune.config.recipe,
    verdict,
    modes: MODES.map((m) => ({
      name: COMPARE_NAMES[m],
      accuracy: modes[m].accuracy,
      seconds: modes[m].seconds,
      coldSeconds: modes[m].coldSeconds,
      ...(modes[m].extraction ? { extraction: modes[m].extraction } : {}),
      runs: modes[m].runs.map((r, i) => ({ seed: seeds[i], bestValAcc: r.bestValAcc, bestEpoch: r.bestEpoch, seconds: r.seconds, report: link(r), history: r.history })),
    })),
    paired,
    curve,
    curves,
    generatedAt: new Date().toISOString(),
  });
  await writeFileAtomic(reportPath, html);
  const summary = {
    model: first.finetune.config.model,
    epochs: first.finetune.config.epochs,
    seeds,
    verdict,
    speedup,
    ...Object.fromEntries(
      MODES.map((m) => [
        m,
        {
          best_val_acc: modes[m].accuracy,
          seconds: modes[m].seconds,
          cold_seconds: modes[m].coldSeconds,
          ...(modes[m].extraction ? { extraction: modes[m].extraction } : {}),
          runs: modes[m].runs.map((r, i) => ({
            seed: seeds[i],
            best_val_acc: r.bestValAcc,
            best_epoch: r.bestEpoch,
            seconds: r.seconds,
            out: r.out,
            ...(r.featureCache ? { cache_hit: r.featureCache.hit } : {}),
          })),
        },
      ]),
    ),
    paired: {
      test: 'McNemar exact',
      rule: paired.rule,
      images: paired.images,
      only_finetune: paired.onlyFirst,
      only_features: paired.onlySecond,
      both_right: paired.bothRight,
      both_wrong: paired.bothWrong,
      p: paired.p,
      per_seed: paired.perSeed,
    },
    ...(curve ? { learning_curve: curve } : {}),
  };
  await writeFileAtomic(join(out, 'compare.json'), JSON.stringify(summary, null, 2) + '\n');
  return { out, ...first, seeds, modes, paired, curve, verdict, svgPath, pngPath, reportPath, speedup, interrupted: false };
}

/** An accuracy's mean and 95% interval, the interval kept within [0, 1] (the t interval ignores the bounds). */
function accuracyInterval(values: number[]): MeanInterval {
  const m = meanInterval(values);
  return { ...m, lower: Math.max(0, m.lower), upper: Math.min(1, m.upper) };
}

function emptyPaired(): PairedComparison {
  return { onlyFirst: 0, onlySecond: 0, bothRight: 0, bothWrong: 0, p: 1, rule: '', images: 0, perSeed: [] };
}

function summarise(mode: CompareMode, runs: TrainResult[]): CompareModeSummary {
  const cache = runs[0].featureCache;
  return {
    name: COMPARE_NAMES[mode],
    runs,
    accuracy: accuracyInterval(runs.map((r) => r.bestValAcc)),
    seconds: meanInterval(runs.map((r) => r.seconds)),
    coldSeconds: runs[0].seconds,
    ...(cache ? { extraction: { seconds: cache.seconds, hit: cache.hit } } : {}),
  };
}

/** Per val image (by path), whether a run got it right. */
function correctness(r: TrainResult): Map<string, boolean> {
  const p = r.valPredictions!;
  return new Map(p.paths.map((path, i) => [path, p.labels[i] === p.predicted[i]]));
}

/**
 * McNemar's exact test per seed (the two modes of one seed share the val images), and on each
 * image's majority over the seeds (right in at least half of them), so every image counts once.
 * Only images in every run's val split take part (the split moves with the seed when the data
 * has no val/ folder).
 */
function pairedComparison(finetune: TrainResult[], features: TrainResult[], seeds: number[]): PairedComparison {
  const ft = finetune.map(correctness);
  const fx = features.map(correctness);
  const perSeed = seeds.map((seed, i) => {
    const paths = [...ft[i].keys()].filter((p) => fx[i].has(p));
    const t = mcnemarTest(
      paths.map((p) => ft[i].get(p)!),
      paths.map((p) => fx[i].get(p)!),
    );
    return { seed, p: t.p, onlyFinetune: t.onlyFirst, onlyFeatures: t.onlySecond };
  });
  const all = [...ft, ...fx];
  const paths = [...ft[0].keys()].filter((p) => all.every((m) => m.has(p)));
  const majority = (maps: Map<string, boolean>[], p: string) => 2 * maps.filter((m) => m.get(p)).length >= maps.length;
  const t = mcnemarTest(
    paths.map((p) => majority(ft, p)),
    paths.map((p) => majority(fx, p)),
  );
  const rule = seeds.length === 1 ? 'each val image: right or wrong' : `each val image: right in at least half of the ${seeds.length} seeds`;
  return { ...t, rule, images: paths.length, perSeed };
}

function verdictLine(modes: Record<CompareMode, CompareModeSummary>, paired: PairedComparison, userCache: boolean): string {
  const a = modes.features.accuracy.mean - modes.finetune.accuracy.mean;
  const ft = modes.finetune.coldSeconds;
  const fx = modes.features.coldSeconds;
  const cheaper: CompareMode = fx <= ft ? 'features' : 'finetune';
  const times = cheaper === 'features' ? ft / Math.max(fx, 1e-9) : fx / Math.max(ft, 1e-9);
  const cost = `${ratio(times)}x cheaper${userCache && modes.features.extraction?.hit ? ' (its features came from the cache)' : ''}`;
  const p = formatP(paired.p);
  const n = modes.finetune.runs.length;
  const seedsNote = n === 1 ? ' (one seed: no interval; --seeds 3 or more for one)' : '';
  if (paired.p >= 0.05) {
    return `${COMPARE_NAMES[cheaper]} is as accurate here (no significant difference, ${p}; ${pts(a)} points) and ${cost}${seedsNote}`;
  }
  const winner: CompareMode = a > 0 || (a === 0 && paired.onlySecond > paired.onlyFirst) ? 'features' : 'finetune';
  const diff = `${pts(Math.abs(a)).replace('+', '')} points`;
  const tail = winner === cheaper ? `and ${cost}` : `but ${COMPARE_NAMES[cheaper]} is ${cost}`;
  return `${COMPARE_NAMES[winner]} is more accurate here (by ${diff}, ${p}) ${tail}${seedsNote}`;
}

function learningCurve(
  fractions: number[],
  seeds: number[],
  full: Record<CompareMode, TrainResult[]>,
  curveRuns: Array<{ fraction: number; mode: CompareMode; seed: number; result: TrainResult }>,
): LearningCurve {
  const accs = (fraction: number, mode: CompareMode): number[] =>
    fraction === 1 ? full[mode].map((r) => r.bestValAcc) : seeds.map((s) => curveRuns.find((c) => c.fraction === fraction && c.mode === mode && c.seed === s)!.result.bestValAcc);
  const trainImages = (fraction: number) => {
    const r = fraction === 1 ? full.features[0] : curveRuns.find((c) => c.fraction === fraction && c.mode === 'features')!.result;
    return r.trainImages ?? 0;
  };
  const all = fractions.includes(1) ? fractions : [...fractions, 1];
  const points = all.map((fraction) => ({
    fraction,
    trainImages: trainImages(fraction),
    finetune: accuracyInterval(accs(fraction, 'finetune')),
    features: accuracyInterval(accs(fraction, 'features')),
  }));
  if (points.length < 2) return { points, doubling: null, from: null, summary: 'one training-set size only: give at least two fractions (e.g. 0.5,1) for a learning curve' };
  const [fa, fb] = [all[all.length - 2], all[all.length - 1]];
  const doublings = Math.log2(fb / fa);
  const gain = (mode: CompareMode) => {
    const a = accs(fa, mode);
    const b = accs(fb, mode);
    return meanInterval(b.map((v, i) => (v - a[i]) / doublings));
  };
  const doubling = { finetune: gain('finetune'), features: gain('features') };
  const say = (m: CompareMode) => {
    const g = doubling[m];
    const ci = g.n > 1 ? ` (95% interval ${pts(g.lower)} to ${pts(g.upper)})` : '';
    return `${COMPARE_NAMES[m]} ${pts(g.mean)} points${ci}`;
  };
  const summary = `doubling the training images would likely bring: ${say('features')}, ${say('finetune')} — the slope of the last step (${fa} -> ${fb} of the data) over ${seeds.length} seed(s); curves usually flatten, so take it as an upper estimate`;
  return { points, doubling, from: [fa, fb], summary };
}
