/**
 * bench:drill — datasets of any size in bounded memory. Generates N small JPEGs (default
 * 100,000, 64x48) in class folders (train/ and val/, 10 classes, 90/10), then runs, each in
 * its own process so each peak RSS is its own:
 *   scan           scanImageFolder (listing and splitting only)
 *   doctor         every file decoded and hashed, the text report formatted
 *   extract+train  features mode, 1 epoch, cold cache: every image through the backbone,
 *                  features written to the cache file as they are computed
 *   train-cached   the same run again: features read back from the cache, 1 head epoch
 *   predict        `headstart predict --format csv` over every image (a TTY progress bar),
 *                  the CSV written as batches come
 * and prints (phase, seconds, peak RSS) plus the bound: a phase's peak RSS should stay near
 * the process baseline, plus, for the training phases, the feature matrices (N x dim x 4
 * bytes), whatever N is. Not a test: it is long (tens of minutes at N = 100,000 on 2 cores).
 *
 *   npm run bench:drill                          (100,000 images)
 *   DRILL_IMAGES=10000 npm run bench:drill       (a quicker check)
 *   DRILL_MODEL=resnet18 DRILL_WEIGHTS=none DRILL_INPUT=64 DRILL_DIR=/tmp/x npm run bench:drill
 * (mobilenet_v2_offline, the default, is the real offline backbone; it needs its own 224 input)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { getModel } from '../src/models/registry.js';
import { Random } from '../src/random.js';

const N = Number(process.env.DRILL_IMAGES ?? 100_000);
const model = process.env.DRILL_MODEL ?? 'mobilenet_v2_offline';
const inputSize = Number(process.env.DRILL_INPUT ?? 0); // 0: the model's own
const dir = process.env.DRILL_DIR ?? join(os.tmpdir(), `headstart-drill-${N}`);
const CLASSES = 10;
const W = 64;
const H = 48;

async function generate(root: string): Promise<number> {
  const marker = join(root, `.complete-v2-${N}`);
  if (existsSync(marker)) return 0;
  rmSync(root, { recursive: true, force: true });
  const t = performance.now();
  const rng = new Random(7);
  for (const split of ['train', 'val']) for (let c = 0; c < CLASSES; c++) mkdirSync(join(root, split, `class${c}`), { recursive: true });
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % CLASSES;
    const split = Math.floor(i / CLASSES) % 10 === 9 ? 'val' : 'train';
    // A class colour, a gradient and noise: cheap to make, not trivially identical.
    const px = Buffer.alloc(W * H * 3);
    const base = [(c * 53) % 256, (c * 97 + 40) % 256, (c * 151 + 80) % 256];
    for (let p = 0; p < W * H; p++) {
      const g = ((p % W) + Math.floor(p / W)) * 0.8;
      for (let k = 0; k < 3; k++) px[p * 3 + k] = Math.max(0, Math.min(255, base[k] + g - 45 + ((rng.nextUint32() & 31) - 16)));
    }
    jobs.push(
      sharp(px, { raw: { width: W, height: H, channels: 3 } })
        .jpeg({ quality: 85 })
        .toFile(join(root, split, `class${c}`, `${String(i).padStart(6, '0')}.jpg`)),
    );
    if (jobs.length >= 16) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  writeFileSync(marker, '');
  return (performance.now() - t) / 1000;
}

interface PhaseResult {
  phase: string;
  seconds: number;
  maxRssMB: number;
  [fact: string]: unknown;
}

function runPhase(phase: string, root: string, work: string): PhaseResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/drill-phase.ts', phase, root, work, model, String(inputSize)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`phase ${phase} failed (exit ${r.status}): ${r.stdout.slice(-2000)}`);
  return JSON.parse(line) as PhaseResult;
}

async function main(): Promise<void> {
  const root = join(dir, 'data');
  const work = join(dir, 'work');
  const genSeconds = await generate(root);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const dim = getModel(model).featureDim;
  console.log(
    `${N} JPEGs of ${W}x${H} in ${root}${genSeconds ? ` (generated in ${genSeconds.toFixed(0)} s)` : ' (reused)'}; model ${model} at ${inputSize || 'its own'} px, feature dim ${dim}; ${os.availableParallelism()} cores`,
  );
  const baseline = runPhase('baseline', root, work);
  const rows: PhaseResult[] = [baseline];
  for (const phase of ['scan', 'doctor', 'extract+train', 'train-cached', 'predict']) {
    const r = runPhase(phase, root, work);
    rows.push(r);
    console.log(JSON.stringify(r));
  }
  const matrixMB = (N * dim * 4) / 2 ** 20;
  console.log('');
  // What a phase holds per image beyond the process baseline (and, for the training phases, beyond the feature matrices).
  const matrixPhases = new Set(['extract+train', 'train-cached']);
  const perImage = (r: PhaseResult) => Math.max(0, ((r.maxRssMB - baseline.maxRssMB - (matrixPhases.has(r.phase) ? matrixMB : 0)) * 2 ** 20) / N);
  // An upper bound per image: fixed costs (ONNX Runtime sessions, weights) are included, so it falls as N grows;
  // the growth per image is the slope between two runs (e.g. DRILL_IMAGES=10000 and 100000).
  console.log('| phase | seconds | peak RSS (MB) | (peak - baseline - feature matrices) / N, bytes (fixed costs included) |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.phase} | ${r.seconds} | ${r.maxRssMB} | ${r === baseline ? '' : perImage(r).toFixed(0)} |`);
  console.log('');
  console.log(`bound: baseline ${baseline.maxRssMB} MB (node + onnxruntime + sharp loaded), feature matrices ${matrixMB.toFixed(0)} MB (${N} x ${dim} x 4 bytes)`);
  console.log('(seconds mean little on a loaded machine; peak RSS does not depend on the load)');
  console.log(
    JSON.stringify({
      drill: {
        images: N,
        model,
        inputSize,
        phases: Object.fromEntries(rows.map((r) => [r.phase, { seconds: r.seconds, maxRssMB: r.maxRssMB, bytesPerImage: Math.round(perImage(r)) }])),
        featureMatrixMB: Number(matrixMB.toFixed(0)),
      },
    }),
  );
}

await main();
