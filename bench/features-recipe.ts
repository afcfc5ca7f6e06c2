/**
 * bench:features-recipe — how the default of `--mode features` was chosen: candidate recipes
 * for the new classifier on cached backbone features, each over several seeds, on real data:
 * the embedded dataset (assets/fashion-mnist-mini: 240 train / 80 val) and a larger
 * Fashion-MNIST folder from Debian's dataset-fashion-mnist (as bench/e2e-real.ts builds it:
 * the same 4 classes, 28x28 upscaled to 224 JPEG). mobilenet_v2_offline, 25 epochs, batch 8.
 * The features are extracted once per dataset (a private cache) and reused by every run.
 *
 * It prints, per dataset and candidate, the mean val accuracy over the seeds with its 95%
 * Student-t interval, for the best epoch (what `train` keeps: chosen on val, so optimistic) and
 * for the last epoch (not chosen on val), and the worst seed. The last line is JSON.
 *
 * Environment: BENCH_FR_SEEDS=5  BENCH_FR_TRAIN_PER_CLASS=200  BENCH_FR_VAL_PER_CLASS=200
 *   BENCH_FR_EPOCHS=25  BENCH_FR_SIZE=224 (crop side; smaller is faster)  BENCH_FR_ONLY='name|name'
 *   BENCH_FR_EMBEDDED_ONLY=1 (skip the Fashion-MNIST folder)  BENCH_KEEP=1 (keep the temp folder)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { meanInterval } from '../src/metrics/paired-test.js';
import type { TrainOptions } from '../src/train/options.js';
import { train } from '../src/train/train.js';
import { makeFashionMnistFolder } from './e2e-real.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const log = (s: string) => process.stderr.write(`${s}\n`);

/** The candidates: the torchvision recipe as it stands, and schedules that do not starve the head. */
const CANDIDATES: Array<{ name: string; options: Partial<TrainOptions> }> = [
  { name: 'default', options: {} },
  { name: 'torchvision (sgd 1e-3, step 7)', options: { recipe: 'torchvision', lr: 1e-3, optimizer: { type: 'sgd', momentum: 0.9 }, scheduler: { type: 'step', stepSize: 7, gamma: 0.1 } } },
  { name: 'sgd 1e-2, step 7', options: { lr: 1e-2, optimizer: { type: 'sgd', momentum: 0.9 }, scheduler: { type: 'step', stepSize: 7, gamma: 0.1 } } },
  { name: 'sgd 1e-2, cosine', options: { lr: 1e-2, optimizer: { type: 'sgd', momentum: 0.9 }, scheduler: { type: 'cosine' } } },
  { name: 'sgd 2e-2, cosine', options: { lr: 2e-2, optimizer: { type: 'sgd', momentum: 0.9 }, scheduler: { type: 'cosine' } } },
  { name: 'sgd 3e-2, cosine', options: { lr: 3e-2, optimizer: { type: 'sgd', momentum: 0.9 }, scheduler: { type: 'cosine' } } },
  { name: 'sgd 1e-1, cosine', options: { lr: 1e-1, optimizer: { type: 'sgd', momentum: 0.9 }, scheduler: { type: 'cosine' } } },
  { name: 'adamw 1e-3, cosine', options: { lr: 1e-3, optimizer: { type: 'adamw' }, scheduler: { type: 'cosine' } } },
  { name: 'adamw 3e-3, cosine', options: { lr: 3e-3, optimizer: { type: 'adamw' }, scheduler: { type: 'cosine' } } },
];

interface Row {
  dataset: string;
  candidate: string;
  best: number[];
  last: number[];
}

const pct = (v: number) => (100 * v).toFixed(2);

async function main(): Promise<void> {
  const seeds = env('BENCH_FR_SEEDS', 5);
  const epochs = env('BENCH_FR_EPOCHS', 25);
  const size = env('BENCH_FR_SIZE', 224);
  const only = process.env.BENCH_FR_ONLY?.split('|');
  const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-features-recipe-'));
  const datasets: Array<{ name: string; root: string }> = [{ name: 'embedded (240/80)', root: fileURLToPath(new URL('../assets/fashion-mnist-mini', import.meta.url)) }];
  if (process.env.BENCH_FR_EMBEDDED_ONLY !== '1') {
    const trainPerClass = env('BENCH_FR_TRAIN_PER_CLASS', 200);
    const valPerClass = env('BENCH_FR_VAL_PER_CLASS', 200);
    const root = join(tmp, 'fashion-mnist');
    await makeFashionMnistFolder(root, { trainPerClass, valPerClass, size: 224 });
    datasets.push({ name: `Fashion-MNIST (${4 * trainPerClass}/${4 * valPerClass})`, root });
  }
  const rows: Row[] = [];
  try {
    for (const d of datasets) {
      for (const c of CANDIDATES) {
        if (only && !only.includes(c.name)) continue;
        const row: Row = { dataset: d.name, candidate: c.name, best: [], last: [] };
        for (let seed = 0; seed < seeds; seed++) {
          const r = await train(d.root, {
            model: 'mobilenet_v2_offline',
            mode: 'features',
            epochs,
            inputSize: size,
            resizeSize: size,
            seed,
            cacheDir: join(tmp, 'cache'),
            out: join(tmp, 'runs', `${rows.length}-${seed}`),
            ...c.options,
          });
          row.best.push(r.bestValAcc);
          row.last.push(r.history.epochs.at(-1)!.val_acc);
          log(`${d.name} | ${c.name} | seed ${seed}: best ${pct(r.bestValAcc)}%, last ${pct(row.last.at(-1)!)}% (${r.seconds.toFixed(1)} s)`);
        }
        rows.push(row);
      }
    }
  } finally {
    if (process.env.BENCH_KEEP !== '1') rmSync(tmp, { recursive: true, force: true });
  }
  const ci = (v: number[]) => {
    const m = meanInterval(v);
    return `${pct(m.mean)} [${pct(m.lower)}, ${pct(m.upper)}]`;
  };
  const lines = [
    '',
    `feature extraction recipes: mobilenet_v2_offline, ${epochs} epochs, ${size}x${size}, ${seeds} seeds; val accuracy %, mean [95% interval]`,
    '',
    '| dataset | candidate | best epoch (kept) | last epoch | worst seed (best / last) |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.dataset} | ${r.candidate} | ${ci(r.best)} | ${ci(r.last)} | ${pct(Math.min(...r.best))} / ${pct(Math.min(...r.last))} |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(
    JSON.stringify({ bench: 'features-recipe', seeds, epochs, size, rows: rows.map((r) => ({ ...r, best_mean: meanInterval(r.best).mean, last_mean: meanInterval(r.last).mean })) }) + '\n',
  );
}

await main();
