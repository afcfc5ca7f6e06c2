/**
 * npm run bench:e2e — the whole transfer-learning run, headstart's `train()` side by side
 * with the reference PyTorch train_model (the torchvision tutorial's loop, bench/e2e_torch.py,
 * Debian's torch 1.13), on the same data, from the same initial weights, with the same recipe
 * (resnet18, batch 8, SGD lr 1e-3 momentum 0.9, StepLR(7, 0.1), the tutorial's transforms,
 * best val epoch kept) and the same thread count, in both modes:
 *
 *   - fine-tuning: every parameter trains. Compared: median seconds per epoch (train + val).
 *   - feature extraction: only the new fc trains. PyTorch runs the tutorial's loop (the whole
 *     backbone forward on every augmented image, every epoch); headstart extracts features
 *     once (cached on disk, a fresh cache here) and trains the head on them. Compared: the
 *     wall time of the whole 25-epoch run (headstart: the entire train() call, including
 *     graph building and writing model.onnx, report and curves; PyTorch: train_model only).
 *
 * Data: Fashion-MNIST from Debian's dataset-fashion-mnist (4 classes, first N images per class
 * of the train and t10k files), upscaled to 224x224 (E2E_IMAGE_SIZE) and saved as JPEG (q90), in train/ and val/;
 * or any ImageFolder root with E2E_DATA. Initial weights: torchvision's resnet18 with
 * Linear(512, K) initialised by torch from the seed — no ImageNet weights can be downloaded
 * here, so both sides fine-tune a randomly initialised network (say so when quoting accuracy).
 * PyTorch runs with tuned malloc settings (DESIGN.md: its strongest baseline here).
 *
 * Then the real-data case (bench/e2e-real.ts): the offline backbone's real pretrained weights on
 * real Fashion-MNIST, headstart vs the backbone's PyTorch twin from the same weights, 5 epochs
 * (E2E_REAL_EPOCHS); per-epoch val accuracy of both sides, for fine-tuning and feature
 * extraction, and headstart with the old BatchNorm momentum 0.001 to show the policy matters.
 *
 * Last line: {"finetune_epoch": R1, "features_run": R2, "acc_gap": G, "acc_gap_features": GF,
 * "acc_gap_random_init": G0, "data_cost": D} with R1 = PyTorch s per fine-tune epoch / headstart's (resnet18),
 * R2 = PyTorch s for the features run / headstart's, G and GF = headstart's best val accuracy -
 * PyTorch's in points on the real-data case (fine-tune must be >= -2), G0 the same for the
 * randomly initialised resnet18 of the timing case, D the fraction of a fine-tune epoch the data costs.
 * E2E_CASE=timing runs only the resnet18 timing case, E2E_CASE=real only the real-data case.
 *
 * What the data costs an epoch: the timing case runs headstart's fine-tune epochs a second
 * time with in-memory synthetic batches of the same shape and order (bench/memory-batches.ts:
 * nothing read, decoded or augmented) and prints both and the fraction of the epoch the data
 * costs; the last line gains "data_cost": (real - in-memory) / real. E2E_CASE=data-cost runs
 * only these two headstart runs (no PyTorch training).
 *
 * Environment (defaults sized for ~10 minutes on 2 cores):
 *   E2E_TRAIN_PER_CLASS=40  E2E_VAL_PER_CLASS=50  E2E_FT_EPOCHS=3  E2E_FEATURES_EPOCHS=25  E2E_IMAGE_SIZE=224
 *   E2E_THREADS=<cores>  E2E_TORCH_WORKERS=0  E2E_SEED=0  E2E_DATA=<ImageFolder root>
 *   E2E_KEEP=1 keeps the temp folder; E2E_TORCH_MALLOC=default runs PyTorch with glibc's defaults.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { train, type TrainResult } from '../src/train/train.js';
import { evaluate } from '../src/infer/evaluate.js';
import { CLASSES } from '../scripts/make_embedded_dataset.js';
import { makeFashionMnistFolder, realCaseSummary, realDataCase } from './e2e-real.js';
import { memoryBatchSource } from './memory-batches.js';
import type { BatchSource } from '../src/train/image-batches.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const TRAIN_PER_CLASS = env('E2E_TRAIN_PER_CLASS', 40);
const VAL_PER_CLASS = env('E2E_VAL_PER_CLASS', 50);
const FT_EPOCHS = env('E2E_FT_EPOCHS', 3);
const FEATURES_EPOCHS = env('E2E_FEATURES_EPOCHS', 25);
const THREADS = env('E2E_THREADS', os.availableParallelism());
const WORKERS = env('E2E_TORCH_WORKERS', 0);
const SEED = env('E2E_SEED', 0);
/** Side of the generated images; 224 as the issue suggests, larger sizes resemble real photos (both sides then downscale). */
const SIZE = env('E2E_IMAGE_SIZE', 224);
const PYTHON = '/usr/bin/python3';
const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Fashion-MNIST images of CLASSES, upscaled to SIZE x SIZE RGB JPEG, in root/train and root/val. */
function makeDataset(root: string): Promise<number> {
  return makeFashionMnistFolder(root, { trainPerClass: TRAIN_PER_CLASS, valPerClass: VAL_PER_CLASS, size: SIZE });
}

interface TorchEpoch {
  epoch: number;
  train_acc: number;
  val_acc: number;
  seconds: number;
  train_seconds: number;
  val_seconds: number;
}
interface TorchRun {
  mode: string;
  epochs: TorchEpoch[];
  seconds: number;
  best_val_acc: number;
  threads: number;
}

function python(args: string[]): string {
  const extra = process.env.E2E_TORCH_MALLOC === 'default' ? {} : TUNED_MALLOC;
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, ...extra }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed (exit ${r.status}${r.error ? `: ${r.error.message}` : ''})`);
  return r.stdout.trim().split('\n').pop()!;
}

function torchRun(data: string, init: string, mode: 'finetune' | 'features', epochs: number): TorchRun {
  log(`\n== PyTorch ${mode}, ${epochs} epoch(s), ${THREADS} thread(s), ${WORKERS} loader worker(s)`);
  return JSON.parse(python(['bench/e2e_torch.py', 'train', data, init, mode, String(epochs), String(THREADS), String(WORKERS), String(SEED)]));
}

type PhaseSeconds = Record<'train' | 'val', number[]> & { engine?: string };

async function headstartRun(data: string, init: string, mode: 'finetune' | 'features', epochs: number, out: string, batches?: BatchSource): Promise<{ result: TrainResult; phases: PhaseSeconds }> {
  log(`\n== headstart ${mode}, ${epochs} epoch(s), ${THREADS} thread(s)${batches ? ', in-memory synthetic batches (no loader)' : ''}`);
  const phases: PhaseSeconds = { train: [], val: [] };
  const result = await train(
    data,
    {
      model: 'resnet18',
      weights: init,
      mode,
      epochs,
      batchSize: 8,
      optimizer: { type: 'sgd', momentum: 0.9 },
      lr: 1e-3,
      scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
      threads: THREADS,
      seed: SEED,
      out,
      cacheDir: join(out, 'feature-cache'),
    },
    {
      listeners: [
        {
          log: (e: { message: string }) => {
            log(`headstart: ${e.message}`);
            if (/^training step/.test(e.message)) phases.engine = e.message;
          },
          phase_end: (e: { phase: string; seconds: number }) => {
            if (e.phase === 'train' || e.phase === 'val') phases[e.phase].push(e.seconds);
          },
          epoch_end: (e: { epoch: number; epochs: number; train_acc: number; val_acc: number; seconds: number }) =>
            log(`headstart ${mode} epoch ${e.epoch}/${e.epochs}: train acc ${e.train_acc.toFixed(3)} val acc ${e.val_acc.toFixed(3)} (${e.seconds.toFixed(1)} s)`),
        },
      ],
      ...(batches ? { batches } : {}),
    },
  );
  return { result, phases };
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

interface FinetuneTiming {
  result: TrainResult;
  phases: PhaseSeconds;
}

/**
 * What the data costs a fine-tuning epoch: the same epochs with the real loader (`loaded`)
 * and with in-memory synthetic batches of the same shape and order (bench/memory-batches.ts),
 * median seconds of each; the fraction is (loaded - memory) / loaded.
 */
async function dataCost(data: string, init: string, tmp: string, loaded: FinetuneTiming): Promise<{ lines: string[]; fraction: number }> {
  const memory = memoryBatchSource(SEED);
  const synthetic = await headstartRun(data, init, 'finetune', FT_EPOCHS, join(tmp, 'hs-finetune-memory'), memory.source);
  const epoch = (r: FinetuneTiming) => median(r.result.history.epochs.map((e) => e.seconds));
  const [eL, eM] = [epoch(loaded), epoch(synthetic)];
  const [tL, tM] = [median(loaded.phases.train), median(synthetic.phases.train)];
  const [vL, vM] = [median(loaded.phases.val), median(synthetic.phases.val)];
  const fraction = (eL - eM) / eL;
  const lines = [
    '',
    `data cost of a fine-tune epoch (resnet18, batch 8, ${THREADS} thread(s); in-memory: ${memory.batches} synthetic batches served, no file read or decoded)`,
    '',
    '| part | real loader, s | in-memory batches, s | data cost, s | fraction |',
    '|---|---|---|---|---|',
    `| epoch (median of ${FT_EPOCHS}) | ${fmt(eL)} | ${fmt(eM)} | ${fmt(eL - eM)} | ${pct(fraction)} |`,
    `| train phase (median) | ${fmt(tL)} | ${fmt(tM)} | ${fmt(tL - tM)} | ${pct((tL - tM) / tL)} |`,
    `| val phase (median) | ${fmt(vL)} | ${fmt(vM)} | ${fmt(vL - vM)} | ${pct((vL - vM) / vL)} |`,
    '',
    `the data costs ${pct(fraction)} of a fine-tune epoch (the in-memory run's accuracy means nothing: its pixels are noise)`,
  ];
  return { lines, fraction };
}

async function main(): Promise<void> {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  if (probe.status !== 0) throw new Error(`bench:e2e needs Debian's python3-torch and python3-torchvision at ${PYTHON}`);
  const loadStart = os.loadavg()[0];
  // Timings mean little when other processes compete for the cores (OpenMP spin-waits make PyTorch suffer most).
  if (loadStart > os.availableParallelism()) log(`warning: load average ${loadStart.toFixed(1)} on ${os.availableParallelism()} cores: other processes will distort these timings`);
  const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-bench-e2e-'));
  const which = process.env.E2E_CASE ?? 'all';
  try {
    if (which === 'data-cost') {
      const data = join(tmp, 'data');
      const n = await makeDataset(data);
      log(`dataset: ${n} Fashion-MNIST images, ${SIZE}x${SIZE} JPEG, in ${data}`);
      const init = join(tmp, 'init.pth');
      python(['bench/e2e_torch.py', 'init', init, String(CLASSES.length), String(SEED)]);
      const loaded = await headstartRun(data, init, 'finetune', FT_EPOCHS, join(tmp, 'hs-finetune'));
      const cost = await dataCost(data, init, tmp, loaded);
      console.log(cost.lines.join('\n'));
      console.log(JSON.stringify({ data_cost: Number(cost.fraction.toFixed(3)) }));
      return;
    }
    if (which === 'real') {
      const r = await realDataCase(tmp);
      console.log(r.lines.join('\n'));
      console.log(JSON.stringify(realCaseSummary(r)));
      return;
    }
    let data = process.env.E2E_DATA;
    let classes: number = CLASSES.length;
    if (!data) {
      data = join(tmp, 'data');
      const n = await makeDataset(data);
      log(`dataset: ${n} Fashion-MNIST images (${CLASSES.map((c) => c.folder).join(', ')}; ${TRAIN_PER_CLASS} train + ${VAL_PER_CLASS} val per class), ${SIZE}x${SIZE} JPEG, in ${data}`);
    } else {
      const { readdirSync } = await import('node:fs');
      classes = readdirSync(join(data, 'train'), { withFileTypes: true }).filter((d) => d.isDirectory()).length;
      log(`dataset: ${data} (${classes} classes)`);
    }
    const init = join(tmp, 'init.pth');
    python(['bench/e2e_torch.py', 'init', init, String(classes), String(SEED)]);
    log(`initial weights: torchvision resnet18 + Linear(512, ${classes}), torch seed ${SEED} -> ${init}`);

    const torchFt = torchRun(data, init, 'finetune', FT_EPOCHS);
    const hsFtRun = await headstartRun(data, init, 'finetune', FT_EPOCHS, join(tmp, 'hs-finetune'));
    const { result: hsFt, phases: hsFtPhases } = hsFtRun;
    const cost = await dataCost(data, init, tmp, hsFtRun);
    const torchFx = torchRun(data, init, 'features', FEATURES_EPOCHS);
    const { result: hsFx } = await headstartRun(data, init, 'features', FEATURES_EPOCHS, join(tmp, 'hs-features'));

    // The exported classifier, in plain onnxruntime via evaluate(), must reproduce the kept val accuracy.
    const check = await evaluate(hsFt.modelPath!, join(data, 'val'), { threads: THREADS, mistakes: 0 });

    const tFtEpoch = median(torchFt.epochs.map((e) => e.seconds));
    const hFtEpoch = median(hsFt.history.epochs.map((e) => e.seconds));
    const tFtAll = torchFt.epochs.map((e) => fmt(e.seconds, 1)).join(', ');
    const hFtAll = hsFt.history.epochs.map((e) => fmt(e.seconds, 1)).join(', ');
    const hFxEpochs = hsFx.history.epochs.reduce((s, e) => s + e.seconds, 0);
    const r1 = tFtEpoch / hFtEpoch;
    const r2 = torchFx.seconds / hsFx.seconds;
    const gap = 100 * (hsFt.bestValAcc - torchFt.best_val_acc);

    const lines = [
      '',
      `bench:e2e — resnet18, ${THREADS} thread(s), batch 8, SGD 1e-3/0.9, StepLR(7, 0.1); PyTorch ${process.env.E2E_TORCH_MALLOC === 'default' ? 'glibc malloc' : 'tuned malloc'}, ${WORKERS} loader worker(s)`,
      '',
      '| run | PyTorch | headstart | ratio (PyTorch / headstart) |',
      '|---|---|---|---|',
      `| fine-tune: s per epoch (median of ${FT_EPOCHS}) | ${fmt(tFtEpoch)} [${tFtAll}] | ${fmt(hFtEpoch)} [${hFtAll}] | ${fmt(r1)} |`,
      `| fine-tune: train phase, s (median) | ${fmt(median(torchFt.epochs.map((e) => e.train_seconds)))} | ${fmt(median(hsFtPhases.train))} | ${fmt(median(torchFt.epochs.map((e) => e.train_seconds)) / median(hsFtPhases.train))} |`,
      `| fine-tune: val phase, s (median) | ${fmt(median(torchFt.epochs.map((e) => e.val_seconds)))} | ${fmt(median(hsFtPhases.val))} | ${fmt(median(torchFt.epochs.map((e) => e.val_seconds)) / median(hsFtPhases.val))} |`,
      `| fine-tune: best val acc | ${pct(torchFt.best_val_acc)} | ${pct(hsFt.bestValAcc)} | gap ${fmt(gap, 1)} points |`,
      `| features: ${FEATURES_EPOCHS}-epoch run, s | ${fmt(torchFx.seconds, 1)} | ${fmt(hsFx.seconds, 1)} (extract ${fmt(hsFx.featureCache?.seconds ?? 0, 1)}, epochs ${fmt(hFxEpochs, 1)}) | ${fmt(r2)} |`,
      `| features: best val acc | ${pct(torchFx.best_val_acc)} | ${pct(hsFx.bestValAcc)} | gap ${fmt(100 * (hsFx.bestValAcc - torchFx.best_val_acc), 1)} points |`,
      '',
      `headstart fine-tune engines: ${hsFtPhases.engine ?? 'not reported'}`,
      `headstart fine-tune train() call: ${fmt(hsFt.seconds, 1)} s in all; evaluate(model.onnx) on val: ${pct(check.metrics.accuracy.estimate)} (kept epoch's val acc ${pct(hsFt.bestValAcc)})`,
      `load average (1 min) at start ${loadStart.toFixed(1)}, at end ${os.loadavg()[0].toFixed(1)}, on ${os.availableParallelism()} cores`,
    ];
    console.log([...lines, ...cost.lines].join('\n'));
    const real = which === 'timing' ? null : await realDataCase(tmp);
    if (real) console.log(real.lines.join('\n'));
    console.log(
      JSON.stringify({
        finetune_epoch: Number(r1.toFixed(3)),
        features_run: Number(r2.toFixed(3)),
        acc_gap: real ? Number(real.accGap.toFixed(2)) : null,
        acc_gap_features: real?.accGapFeatures != null ? Number(real.accGapFeatures.toFixed(2)) : null,
        acc_gap_random_init: Number(gap.toFixed(2)),
        data_cost: Number(cost.fraction.toFixed(3)),
      }),
    );
  } finally {
    if (process.env.E2E_KEEP) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
