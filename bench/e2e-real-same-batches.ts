/**
 * The real-data case on identical batches: headstart's fine-tuning run of bench/e2e-real.ts,
 * and the PyTorch twin trained on the very tensors headstart's loader produced (every
 * augmented, normalised training batch of every epoch, in headstart's order, and headstart's
 * val tensors), so the two sides differ only in the training step and the evaluation, not in
 * the data. Per step it prints both losses; per epoch both train and val accuracies.
 *
 *   node --import tsx bench/e2e-real-same-batches.ts     (npm run bench:e2e:same-batches)
 *
 * If the losses and accuracies agree, a gap that bench:e2e:real shows lies in the data
 * (pipeline or sampling noise); if they part, in the step or the evaluation.
 * Environment: as bench/e2e-real.ts (E2E_REAL_EPOCHS default 2 here, E2E_REAL_SIZE,
 * E2E_REAL_TRAIN_PER_CLASS, E2E_REAL_VAL_PER_CLASS, E2E_REAL_LR, E2E_REAL_FREEZE_BN=1 for
 * --freeze-bn on both sides, E2E_THREADS, E2E_SEED, E2E_KEEP; E2E_REAL_FP64=1 also trains a float64
 * twin in lockstep, the yardstick for both float32 sides' drift, and prints each side's per-step loss
 * drift from it; E2E_ENGINE=auto|native|onnx, or a list such as native,onnx: one headstart run per
 * engine, all on the same batches, compared with the same PyTorch runs; E2E_SAME_BATCHES_TORCH=0 skips
 * PyTorch and prints headstart's per-step losses as JSON).
 *
 * Seen (issue 9, seed 0, 224 px, 2 epochs, 1 thread, loaded machine): every float32 run leaves the
 * float64 trajectory within ~10 steps; median per-step loss drift from float64 over steps 7-50: native
 * engine (oneDNN float BatchNorm statistics) 4.0e-2, ONNX engine 3.6e-2, torch fp32 4.7e-2, native with
 * the statistics summed in double 2.5e-2. Epoch-2 val accuracy on these identical batches: native .540,
 * native (double statistics) .605, ONNX .825, torch fp32 .715: rounding alone moves it by ~28 points.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dumpBatches } from './dump-batches.js';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { train } from '../src/train/train.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { getModel } from '../src/models/registry.js';
import { imageBatches } from '../src/train/image-batches.js';
import { CLASSES } from '../scripts/make_embedded_dataset.js';
import { writeOfflineWeights } from '../scripts/export_offline_weights.js';
import { makeFashionMnistFolder } from './e2e-real.js';
import { parseEngine } from './e2e-engine.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const log = (s: string) => process.stderr.write(`${s}\n`);
const PYTHON = '/usr/bin/python3';

const EPOCHS = env('E2E_REAL_EPOCHS', 2);
const SIZE = env('E2E_REAL_SIZE', 224);
const LR = env('E2E_REAL_LR', 1e-3);
const SEED = env('E2E_SEED', 0);
const THREADS = env('E2E_THREADS', os.availableParallelism());
const FREEZE_BN = process.env.E2E_REAL_FREEZE_BN === '1';
const BATCH = 8;
/** E2E_ENGINE=native,onnx: one headstart run per engine on the same batches (default: train()'s own choice). */
const ENGINES = (process.env.E2E_ENGINE ?? '').split(',').map(parseEngine);

async function main(tmp: string) {
  const data = join(tmp, 'real-data');
  const trainPerClass = env('E2E_REAL_TRAIN_PER_CLASS', 50);
  const valPerClass = env('E2E_REAL_VAL_PER_CLASS', 50);
  await makeFashionMnistFolder(data, { trainPerClass, valPerClass, size: 224 });
  const init = join(tmp, 'offline-init.safetensors');
  await writeOfflineWeights(init, CLASSES.length, SEED);

  // headstart's tensors: the same folder scan, transforms, shuffle and random keys as train() uses.
  const spec = getModel('mobilenet_v2_offline');
  const preprocess = { ...spec.preprocess, inputSize: SIZE, resizeSize: Math.round((SIZE * spec.preprocess.resizeSize) / spec.preprocess.inputSize) };
  const folder = await scanImageFolder(data, { valFraction: 0.2, seed: SEED });
  const trainT = buildTrainTransform(preprocess);
  const evalT = buildEvalTransform(preprocess);
  const dump = join(tmp, 'batches');
  const trainSizes: number[][] = [];
  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    trainSizes.push(await dumpBatches(imageBatches(folder.train, trainT, { batchSize: BATCH, shuffle: true, seed: SEED, epoch }), `${dump}-train-${epoch}.f32`, `${dump}-train-${epoch}.i32`));
  }
  const valSizes = await dumpBatches(imageBatches(folder.val, evalT, { batchSize: 32, shuffle: false, seed: SEED, epoch: 0 }), `${dump}-val.f32`, `${dump}-val.i32`);
  log(`dumped ${EPOCHS} epoch(s) of ${trainSizes[0].length} training batches and ${folder.val.length} val images (${SIZE}x${SIZE})`);

  // headstart's runs (one per engine asked), their per-step losses.
  const runs: { engine: string; engine_used: string; losses: number[][]; epochs: { train_loss: number; train_acc: number; val_loss: number; val_acc: number }[] }[] = [];
  for (const engine of ENGINES) {
    const losses: number[][] = [];
    const out = join(tmp, `hs-${engine ?? 'default'}`);
    const r = await train(
      data,
      {
        model: 'mobilenet_v2_offline',
        weights: init,
        mode: 'finetune',
        epochs: EPOCHS,
        batchSize: BATCH,
        optimizer: { type: 'sgd', momentum: 0.9 },
        lr: LR,
        inputSize: SIZE,
        scheduler: { type: 'step', stepSize: 7, gamma: 0.1 },
        freezeBn: FREEZE_BN,
        threads: THREADS,
        seed: SEED,
        out,
        cacheDir: join(tmp, 'feature-cache'),
        calibrate: false,
        ...(engine ? { engine } : {}),
      },
      {
        listeners: [
          {
            batch_end: (e) => {
              if (e.phase !== 'train' || e.epoch === null || e.batch_loss === undefined) return;
              (losses[e.epoch - 1] ??= []).push(e.batch_loss);
            },
            epoch_end: (e) => log(`headstart (${engine ?? 'default'}) epoch ${e.epoch}/${e.epochs}: train acc ${e.train_acc.toFixed(3)} val acc ${e.val_acc.toFixed(3)} (${e.seconds.toFixed(1)} s)`),
          },
        ],
      },
    );
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { engine_used?: string };
    const engineUsed = config.engine_used ?? 'onnx';
    log(`headstart (${engine ?? 'default'}): the step ran on the ${engineUsed} engine`);
    runs.push({
      engine: engine ?? 'default',
      engine_used: engineUsed,
      losses,
      epochs: r.history.epochs.map((e) => ({ train_loss: e.train_loss, train_acc: e.train_acc, val_loss: e.val_loss, val_acc: e.val_acc })),
    });
  }
  const meta = {
    size: SIZE,
    lr: LR,
    seed: SEED,
    threads: THREADS,
    freeze_bn: FREEZE_BN,
    fp64: process.env.E2E_REAL_FP64 === '1',
    num_classes: CLASSES.length,
    init,
    dump,
    train_sizes: trainSizes,
    val_sizes: valSizes,
    headstart: runs[0],
    headstart_runs: runs,
  };
  const metaPath = join(tmp, 'same-batches.json');
  writeFileSync(metaPath, JSON.stringify(meta));
  if (process.env.E2E_SAME_BATCHES_TORCH === '0') {
    // headstart's side alone: its per-step losses, to set against an earlier run's PyTorch columns.
    process.stdout.write(`${JSON.stringify({ headstart_runs: runs })}\n`);
    return;
  }
  const t = spawnSync(PYTHON, ['bench/e2e_torch_same_batches.py', metaPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (t.status !== 0) throw new Error(`bench/e2e_torch_same_batches.py failed (exit ${t.status})`);
  process.stdout.write(t.stdout);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-bench-same-batches-'));
  try {
    await main(tmp);
  } finally {
    if (process.env.E2E_KEEP) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}
