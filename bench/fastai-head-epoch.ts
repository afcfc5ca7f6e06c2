/**
 * fastai's frozen epoch reproduced in PyTorch (bench/fastai_head_epoch.py) on bench:recipes'
 * case: the offline backbone's twin on real Fashion-MNIST (bench/e2e-real.ts's folder), batch 64,
 * fit_one_cycle(pct_start 0.99) to 2e-3 with AdamW — linear head vs fastai's head, body BatchNorm
 * in inference mode (headstart's cached features) vs train mode (fastai's train_bn). Prints each
 * variant's val accuracy after the one frozen epoch, to set against headstart's first epoch of
 * `bench:recipes` (a development tool, not a benchmark).
 *
 * Environment: FASTAI_TRAIN_PER_CLASS=50  FASTAI_VAL_PER_CLASS=50  FASTAI_BATCH=64  E2E_SEED=0  E2E_THREADS
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { CLASSES } from '../scripts/make_embedded_dataset.js';
import { writeOfflineWeights } from '../scripts/export_offline_weights.js';
import { makeFashionMnistFolder } from './e2e-real.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-fastai-head-'));
try {
  const seed = env('E2E_SEED', 0);
  await makeFashionMnistFolder(join(tmp, 'data'), { trainPerClass: env('FASTAI_TRAIN_PER_CLASS', 50), valPerClass: env('FASTAI_VAL_PER_CLASS', 50), size: 224 });
  await writeOfflineWeights(join(tmp, 'w.safetensors'), CLASSES.length, seed);
  console.log('| variant | steps | val acc after the frozen epoch |\n|---|---|---|');
  const args = ['bench/fastai_head_epoch.py', join(tmp, 'data'), join(tmp, 'w.safetensors'), String(env('FASTAI_BATCH', 64)), String(seed), String(env('E2E_THREADS', os.availableParallelism()))];
  const run = spawnSync('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`bench/fastai_head_epoch.py failed (exit ${run.status})`);
  console.log(run.stdout.trim());
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
