/**
 * bench:cached-partial — cached partial fine-tuning (--unfreeze-last 1 --cache-frozen) against
 * today's --unfreeze-last 1, side by side in one run: ResNet18 (layer4 + fc train) on real
 * Fashion-MNIST images (bench/e2e-real.ts's folder), same seed and settings. Reports each
 * run's seconds per epoch (the median of epochs 2.., so graph building and the one-off
 * extraction are left out; the cached run's extraction is shown on its own) and best val
 * accuracy. Target: >= 3x faster per epoch, same accuracy within noise. ResNet18 starts from
 * random weights here (no ImageNet download offline): the speed is what counts; accuracy is
 * compared between the two runs only. Last line JSON {"epoch_speedup": S, "acc_gap": G}.
 *
 * Environment: CACHED_EPOCHS=4  CACHED_TRAIN_PER_CLASS=50  CACHED_VAL_PER_CLASS=25  CACHED_SIZE=224
 *   CACHED_MODEL=resnet18  E2E_THREADS  E2E_SEED
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/train.js';
import { makeFashionMnistFolder } from './e2e-real.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-bench-cached-'));
try {
  const epochs = env('CACHED_EPOCHS', 4);
  const size = env('CACHED_SIZE', 224);
  const model = process.env.CACHED_MODEL ?? 'resnet18';
  const data = join(tmp, 'data');
  await makeFashionMnistFolder(data, { trainPerClass: env('CACHED_TRAIN_PER_CLASS', 50), valPerClass: env('CACHED_VAL_PER_CLASS', 25), size: 224 });
  const runs: Record<string, { perEpoch: number; best: number; extract: number | null; epochs: number[] }> = {};
  for (const [label, cacheFrozen] of [
    ['--unfreeze-last 1', false],
    ['--unfreeze-last 1 --cache-frozen', true],
  ] as const) {
    log(`\n== ${model} ${label}, ${epochs} epochs`);
    const r = await train(data, {
      model,
      weights: 'none',
      mode: 'finetune',
      unfreezeLast: 1,
      cacheFrozen,
      epochs,
      inputSize: size,
      threads: env('E2E_THREADS', os.availableParallelism()),
      seed: env('E2E_SEED', 0),
      out: join(tmp, cacheFrozen ? 'cached' : 'uncached'),
      cacheDir: join(tmp, 'cache'),
    });
    const secs = r.history.epochs.map((e) => e.seconds);
    runs[label] = { perEpoch: median(secs.length > 1 ? secs.slice(1) : secs), best: r.bestValAcc, extract: r.featureCache?.seconds ?? null, epochs: secs };
    log(`${label}: epochs ${secs.map((s) => s.toFixed(1)).join(', ')} s; best val acc ${r.bestValAcc.toFixed(3)}`);
  }
  const [u, c] = [runs['--unfreeze-last 1'], runs['--unfreeze-last 1 --cache-frozen']];
  const speedup = u.perEpoch / c.perEpoch;
  const gap = 100 * (c.best - u.best);
  console.log(`| run | s per epoch (median of epochs 2..) | one-off extraction s | best val acc |`);
  console.log(`|---|---|---|---|`);
  for (const [label, r] of Object.entries(runs)) console.log(`| ${label} | ${r.perEpoch.toFixed(2)} | ${r.extract === null ? '-' : r.extract.toFixed(1)} | ${r.best.toFixed(3)} |`);
  console.log(`per-epoch speedup ${speedup.toFixed(2)}x (target >= 3); accuracy gap ${gap.toFixed(1)} points (cached - uncached)`);
  console.log(JSON.stringify({ epoch_speedup: Number(speedup.toFixed(3)), acc_gap: Number(gap.toFixed(2)) }));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
