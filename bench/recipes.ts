/**
 * bench:recipes — `headstart train --recipe fastai` against PyTorch's torchvision recipe, side
 * by side in one run, on bench:e2e's real-data case (bench/e2e-real.ts): the offline backbone
 * (mobilenet_v2_offline) on real Fashion-MNIST images, both sides starting from the same
 * weights (our importer's, with a seeded new fc), PyTorch on the backbone's twin
 * (scripts/mobilenet_v2_offline_twin.py) through the tutorial's train_model (bench/e2e_torch.py:
 * batch 8, SGD 1e-3 momentum 0.9, StepLR(7, 0.1), 25 epochs, tuned malloc).
 *
 * R = (headstart's wall seconds, from the train() call, until its val accuracy first reaches
 * PyTorch's best) / (PyTorch's wall seconds for its epochs); when headstart never reaches it, R
 * is the ratio of the whole runs and the gap is shown. G = best val accuracy, headstart −
 * PyTorch, in points. Targets: R <= 0.33, G >= 0. Both sides' curves are printed as a table;
 * the last line is JSON {"time_to_acc": R, "acc_gap": G}. Timing counts only on a quiet machine.
 *
 * Environment:
 *   RECIPES_TORCH_EPOCHS=25   RECIPES_EPOCHS=10 (headstart's, --freeze-epochs 1 of them)
 *   RECIPES_LR (headstart's --lr: a number or auto; default the recipe's 2e-3)
 *   RECIPES_BATCH (headstart's --batch-size; default the recipe's 64)
 *   E2E_REAL_TRAIN_PER_CLASS=50  E2E_REAL_VAL_PER_CLASS=50  E2E_REAL_SIZE=224  E2E_THREADS  E2E_SEED  E2E_KEEP
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/train.js';
import type { TrainOptions } from '../src/train/options.js';
import { CLASSES } from '../scripts/make_embedded_dataset.js';
import { writeOfflineWeights } from '../scripts/export_offline_weights.js';
import { makeFashionMnistFolder } from './e2e-real.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const log = (s: string) => process.stderr.write(`${s}\n`);
const PYTHON = '/usr/bin/python3';
const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

interface Curve {
  /** Val accuracy after each epoch. */
  val: number[];
  train: number[];
  /** Wall seconds from the start of the run to the end of each epoch. */
  at: number[];
  total: number;
  best: number;
}

function torchRun(data: string, init: string, epochs: number, threads: number, seed: number, size: number): Curve {
  log(`\n== PyTorch twin, torchvision recipe, ${epochs} epoch(s)`);
  const r = spawnSync(PYTHON, ['bench/e2e_torch.py', 'train', data, init, 'finetune', String(epochs), String(threads), '0', String(seed), 'mobilenet_v2_offline', '0.001', String(size)], {
    encoding: 'utf8',
    env: { ...process.env, ...TUNED_MALLOC },
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`bench/e2e_torch.py failed (exit ${r.status})`);
  const run = JSON.parse(r.stdout.trim().split('\n').pop()!) as { epochs: { train_acc: number; val_acc: number; seconds: number }[]; seconds: number; best_val_acc: number };
  let t = 0;
  return {
    val: run.epochs.map((e) => e.val_acc),
    train: run.epochs.map((e) => e.train_acc),
    at: run.epochs.map((e) => (t += e.seconds)),
    total: run.seconds,
    best: run.best_val_acc,
  };
}

async function headstartRun(data: string, init: string, epochs: number, threads: number, seed: number, size: number, out: string): Promise<Curve> {
  const lrEnv = process.env.RECIPES_LR;
  const options: TrainOptions = {
    model: 'mobilenet_v2_offline',
    weights: init,
    recipe: 'fastai',
    epochs,
    inputSize: size,
    threads,
    seed,
    out,
    cacheDir: join(out, 'feature-cache'),
    ...(lrEnv ? { lr: lrEnv === 'auto' ? 'auto' : Number(lrEnv) } : {}),
    ...(process.env.RECIPES_BATCH ? { batchSize: Number(process.env.RECIPES_BATCH) } : {}),
  };
  log(`\n== headstart --recipe fastai, ${epochs} epoch(s)`);
  const curve: Curve = { val: [], train: [], at: [], total: 0, best: 0 };
  const started = performance.now();
  const r = await train(data, options, {
    listeners: [
      {
        log: (e: { message: string }) => log(`headstart: ${e.message}`),
        epoch_end: (e: { epoch: number; epochs: number; train_acc: number; val_acc: number; seconds: number }) => {
          curve.val.push(e.val_acc);
          curve.train.push(e.train_acc);
          curve.at.push((performance.now() - started) / 1000);
          log(`headstart fastai epoch ${e.epoch}/${e.epochs}: train acc ${e.train_acc.toFixed(3)} val acc ${e.val_acc.toFixed(3)} (${e.seconds.toFixed(1)} s)`);
        },
      },
    ],
  });
  curve.total = (performance.now() - started) / 1000;
  curve.best = r.bestValAcc;
  return curve;
}

const f2 = (x: number | undefined) => (x === undefined ? '' : x.toFixed(2));
const f1 = (x: number | undefined) => (x === undefined ? '' : x.toFixed(1));

export async function recipesCase(tmp: string): Promise<{ lines: string[]; timeToAcc: number; accGap: number }> {
  const torchEpochs = env('RECIPES_TORCH_EPOCHS', 25);
  const epochs = env('RECIPES_EPOCHS', 10);
  const threads = env('E2E_THREADS', os.availableParallelism());
  const seed = env('E2E_SEED', 0);
  const size = env('E2E_REAL_SIZE', 224);
  const trainPerClass = env('E2E_REAL_TRAIN_PER_CLASS', 50);
  const valPerClass = env('E2E_REAL_VAL_PER_CLASS', 50);
  const data = join(tmp, 'real-data');
  const n = await makeFashionMnistFolder(data, { trainPerClass, valPerClass, size: 224 });
  log(`recipes case: ${n} Fashion-MNIST images (${CLASSES.map((c) => c.folder).join(', ')}; ${trainPerClass} train + ${valPerClass} val per class), ${size}x${size} crops`);
  const init = join(tmp, 'offline-init.safetensors');
  await writeOfflineWeights(init, CLASSES.length, seed);

  const p = torchRun(data, init, torchEpochs, threads, seed, size);
  const h = await headstartRun(data, init, epochs, threads, seed, size, join(tmp, 'hs-fastai'));

  const reached = h.val.findIndex((v) => v >= p.best);
  const timeToAcc = reached >= 0 ? h.at[reached] / p.total : h.total / p.total;
  const accGap = 100 * (h.best - p.best);
  const rows = Math.max(p.val.length, h.val.length);
  const lines = [
    '',
    `val accuracy per epoch, and wall seconds since the start of each run (mobilenet_v2_offline, same weights both sides, ${size}x${size} crops)`,
    '',
    '| epoch | PyTorch torchvision val acc | PyTorch s | headstart fastai val acc | headstart s |',
    '|---|---|---|---|---|',
    ...Array.from({ length: rows }, (_, i) => `| ${i + 1} | ${f2(p.val[i])} | ${f1(p.at[i])} | ${f2(h.val[i])} | ${f1(h.at[i])} |`),
    '',
    `PyTorch: best val acc ${f2(p.best)} in ${torchEpochs} epochs, ${f1(p.total)} s (train_model)`,
    `headstart --recipe fastai: best val acc ${f2(h.best)} in ${epochs} epochs, ${f1(h.total)} s (the whole train() call: setup, feature cache, epochs, outputs)`,
    reached >= 0
      ? `headstart reached PyTorch's best (${f2(p.best)}) after epoch ${reached + 1}, at ${f1(h.at[reached])} s: R = ${timeToAcc.toFixed(3)} (target <= 0.33)`
      : `headstart never reached PyTorch's best (${f2(p.best)}; its own best ${f2(h.best)}, ${(100 * (p.best - h.best)).toFixed(1)} points short): R is the ratio of the whole runs, ${timeToAcc.toFixed(3)}`,
    `G = headstart - PyTorch best val acc: ${accGap.toFixed(1)} points (target >= 0)`,
  ];
  return { lines, timeToAcc, accGap };
}

const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-bench-recipes-'));
try {
  const r = await recipesCase(tmp);
  console.log(r.lines.join('\n'));
  console.log(JSON.stringify({ time_to_acc: Number(r.timeToAcc.toFixed(4)), acc_gap: Number(r.accGap.toFixed(2)) }));
} finally {
  if (process.env.E2E_KEEP) log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
