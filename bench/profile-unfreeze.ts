/**
 * bench:profile-unfreeze — where the one-off cost of `--recipe fastai`'s unfreeze goes: bench:recipes'
 * headstart side alone (mobilenet_v2_offline on real Fashion-MNIST, the same weights), with
 * HEADSTART_PROFILE_PHASES=1 (src/train/phase-profile.ts: wall and process CPU ms per setup step of the
 * fine-tune runner) and, per phase of each epoch, its wall seconds and the process CPU seconds. The gap
 * printed as "between phases" is everything outside the epochs' train and val phases (runner creation,
 * sessions, the native plan and self-test, checkpoints).
 *
 * Environment: RECIPES_EPOCHS=3, RECIPES_BATCH (default the recipe's 64), RECIPES_ENGINE (auto),
 * E2E_REAL_TRAIN_PER_CLASS=50, E2E_REAL_VAL_PER_CLASS=50, E2E_REAL_SIZE=224, E2E_THREADS, E2E_SEED.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/train.js';
import type { TrainOptions } from '../src/train/options.js';
import { writeOfflineWeights } from '../scripts/export_offline_weights.js';
import { CLASSES } from '../scripts/make_embedded_dataset.js';
import { makeFashionMnistFolder } from './e2e-real.js';

process.env.HEADSTART_PROFILE_PHASES = '1';
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const log = (s: string) => process.stderr.write(`${s}\n`);
const cpuS = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-profile-unfreeze-'));
try {
  const data = join(tmp, 'real-data');
  const size = env('E2E_REAL_SIZE', 224);
  await makeFashionMnistFolder(data, { trainPerClass: env('E2E_REAL_TRAIN_PER_CLASS', 50), valPerClass: env('E2E_REAL_VAL_PER_CLASS', 50), size: 224 });
  const init = join(tmp, 'offline-init.safetensors');
  await writeOfflineWeights(init, CLASSES.length, env('E2E_SEED', 0));
  const options: TrainOptions = {
    model: 'mobilenet_v2_offline',
    weights: init,
    recipe: 'fastai',
    epochs: env('RECIPES_EPOCHS', 3),
    inputSize: size,
    threads: env('E2E_THREADS', os.availableParallelism()),
    seed: env('E2E_SEED', 0),
    out: join(tmp, 'out'),
    cacheDir: join(tmp, 'feature-cache'),
    engine: (process.env.RECIPES_ENGINE ?? 'auto') as TrainOptions['engine'],
    ...(process.env.RECIPES_BATCH ? { batchSize: Number(process.env.RECIPES_BATCH) } : {}),
  };
  const wall0 = performance.now();
  const cpu0 = cpuS();
  let mark = { wall: wall0, cpu: cpu0 };
  const since = () => {
    const now = { wall: performance.now(), cpu: cpuS() };
    const d = `wall ${((now.wall - mark.wall) / 1000).toFixed(2)} s, cpu ${(now.cpu - mark.cpu).toFixed(2)} s`;
    mark = now;
    return d;
  };
  let inPhases = { wall: 0, cpu: 0 };
  let phaseStart = { wall: 0, cpu: 0 };
  await train(data, options, {
    listeners: [
      {
        log: (e: { message: string }) => log(`headstart: ${e.message}`),
        phase_start: (e: { epoch: number | null; phase: string }) => {
          log(`[profile] before ${e.phase} phase of epoch ${e.epoch ?? '-'}: ${since()}`);
          phaseStart = { wall: performance.now(), cpu: cpuS() };
        },
        batch_end: (e: { epoch: number | null; phase: string; batch: number; images: number }) => {
          if (e.phase !== 'extract') log(`[profile]   ${e.phase} batch ${e.batch} of epoch ${e.epoch ?? '-'} (${e.images} images so far): ${since()}`);
        },
        phase_end: (e: { epoch: number | null; phase: string; acc: number | null }) => {
          inPhases = { wall: inPhases.wall + performance.now() - phaseStart.wall, cpu: inPhases.cpu + cpuS() - phaseStart.cpu };
          log(`[profile] ${e.phase} phase of epoch ${e.epoch ?? '-'} (acc ${e.acc?.toFixed(3) ?? '-'}): ${since()}`);
        },
      },
    ],
  });
  const wall = (performance.now() - wall0) / 1000;
  const cpu = cpuS() - cpu0;
  console.log(`whole train(): wall ${wall.toFixed(2)} s, cpu ${cpu.toFixed(2)} s; between phases: wall ${(wall - inPhases.wall / 1000).toFixed(2)} s, cpu ${(cpu - inPhases.cpu).toFixed(2)} s`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
