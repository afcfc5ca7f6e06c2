/**
 * Does headstart's training pipeline make batches that train worse than torchvision's? The
 * real-data case of bench/e2e-real.ts (mobilenet_v2_offline on real Fashion-MNIST, upscaled to
 * 224 px), in two parts:
 *
 * 1. The pipeline, stage by stage, against torchvision 0.14 / PIL (bench/e2e_torch_pipelines.py):
 *    the decode of the stored JPEGs; headstart's crop + resize + flip + normalisation replayed
 *    in torchvision with the same boxes and flips, for the default path, `exactAugment` and the
 *    decode workers (HEADSTART_DECODE_WORKERS); the eval transform; then the *distributions*:
 *    RandomResizedCrop's boxes (area fraction, log aspect ratio, centre, the centre-crop
 *    fallback) against torchvision's own sampler on torch's generator (Kolmogorov-Smirnov), the
 *    flip rate, the class mix of the batches against the hypergeometric, each epoch's order
 *    (a permutation, drop_last off), and whether a sample's draws in one epoch correlate with
 *    its draws in another (the keyed random streams).
 * 2. Training: the PyTorch twin with its own torchvision pipeline (bench/e2e_torch.py, what
 *    bench:e2e:real runs) and the same twin, same initial weights and recipe, on the batches
 *    headstart's loader produces (every epoch's augmented batches in headstart's order, and
 *    headstart's val tensors; bench/e2e_torch_same_batches.py), over several seeds: best val
 *    accuracy of each, and the paired difference. If headstart's batches trained worse, the
 *    difference would be negative beyond its spread.
 *
 *   node --import tsx bench/e2e-real-pipelines.ts     (npm run bench:e2e:pipelines)
 *
 * Environment: E2E_SEEDS=0,1,2,3,4 (part 2; empty: part 1 only)  E2E_SEED=0 (part 1's seed)
 *   E2E_REAL_EPOCHS=5  E2E_REAL_SIZE=224  E2E_REAL_TRAIN_PER_CLASS=50  E2E_REAL_VAL_PER_CLASS=50
 *   E2E_REAL_LR=0.001  E2E_THREADS  E2E_KEEP
 *   E2E_PIPELINES_OWN=0: skip the twin on torchvision's pipeline (when bench:e2e:real already ran
 *   it for the same seeds: same data, initial weights and arguments) and print headstart's column only
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dumpBatches } from './dump-batches.js';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { scanImageFolder, type ImageFolder } from '../src/data/image-folder.js';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { createLoader } from '../src/data/loader.js';
import { decodeImage } from '../src/data/decode.js';
import { identityGeometry, type Geometry } from '../src/data/transforms/geometry.js';
import type { Pipeline } from '../src/data/pipeline.js';
import { getModel } from '../src/models/registry.js';
import { keyedRandom } from '../src/random.js';
import { epochOrder, imageBatches } from '../src/train/image-batches.js';
import { CLASSES } from '../scripts/make_embedded_dataset.js';
import { writeOfflineWeights } from '../scripts/export_offline_weights.js';
import { makeFashionMnistFolder } from './e2e-real.js';

const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const log = (s: string) => process.stderr.write(`${s}\n`);
const PYTHON = '/usr/bin/python3';
const TUNED_MALLOC = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

const EPOCHS = env('E2E_REAL_EPOCHS', 5);
const SIZE = env('E2E_REAL_SIZE', 224);
const LR = env('E2E_REAL_LR', 1e-3);
const THREADS = env('E2E_THREADS', os.availableParallelism());
const BATCH = 8;
const OWN = process.env.E2E_PIPELINES_OWN !== '0';
/** Training images whose tensors part 1 compares pixel by pixel. */
const CHECKED = 40;

function python(args: string[], what: string): string {
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: { ...process.env, ...TUNED_MALLOC }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status})`);
  return r.stdout;
}

function writeF32(path: string, t: Float32Array) {
  writeFileSync(path, new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
}

/** The composed geometry of sample `index` in `epoch` (the draws the loader makes). */
function geometryOf(t: Pipeline, seed: number, epoch: number, index: number, source: { width: number; height: number }): Geometry {
  const rng = keyedRandom(seed, epoch, index);
  let g = identityGeometry(source, 'bilinear');
  for (const s of t.steps) {
    if (s.kind !== 'geometric' || !s.canCompose(g)) throw new Error(`${s.name} does not compose`);
    g = s.compose(g, rng);
  }
  return g;
}

/** Every batch of `loader` in order, as one tensor. */
async function collect(batches: AsyncIterable<{ images: Float32Array; size: number; release(): void }>, chw: number, n: number): Promise<Float32Array> {
  const all = new Float32Array(n * chw);
  let at = 0;
  for await (const b of batches) {
    all.set(b.images.subarray(0, b.size * chw), at * chw);
    at += b.size;
    b.release();
  }
  return all;
}

/** Part 1: the files python compares against torchvision, and its report. */
async function checkPipeline(tmp: string, data: string, folder: ImageFolder, seed: number): Promise<string> {
  const spec = getModel('mobilenet_v2_offline');
  const preprocess = { ...spec.preprocess, inputSize: SIZE, resizeSize: Math.round((SIZE * spec.preprocess.resizeSize) / spec.preprocess.inputSize) };
  const trainT = buildTrainTransform(preprocess);
  const exactT = buildTrainTransform(preprocess, { exactAugment: true });
  const evalT = buildEvalTransform(preprocess);
  const chw = 3 * SIZE * SIZE;
  const n = Math.min(CHECKED, folder.train.length);
  const sub = folder.train.slice(0, n);
  // The loader's epoch 1 on the first n images, unshuffled (so sample i sits at i): in process, and in 2 decode workers.
  const viaLoader = (t: Pipeline, workers: number) => collect(createLoader(sub, t, { batchSize: BATCH, seed, epoch: 1, workers }), chw, n);
  const paths: Record<string, string> = {};
  for (const [name, t] of [
    ['default', await viaLoader(trainT, 0)],
    ['exact', await viaLoader(exactT, 0)],
    ['workers', await viaLoader(trainT, 2)],
    ['val', await collect(createLoader(folder.val, evalT, { batchSize: 32, seed, epoch: 0 }), chw, folder.val.length)],
  ] as const) {
    paths[name] = join(tmp, `check-${name}.f32`);
    writeF32(paths[name], t);
  }
  // Our decode of the stored images (8-bit RGB), for the decode stage.
  const decoded = new Uint8Array(n * 224 * 224 * 3);
  let sourceSize = { width: 0, height: 0 };
  for (let i = 0; i < n; i++) {
    const img = await decodeImage(readFileSync(sub[i].path), sub[i].path);
    sourceSize = { width: img.width, height: img.height };
    decoded.set(img.data.subarray(0, decoded.length / n), (i * decoded.length) / n);
  }
  paths.decoded = join(tmp, 'check-decoded.u8');
  writeFileSync(paths.decoded, decoded);
  const epochs = Array.from({ length: EPOCHS }, (_, e) => ({
    order: Array.from(epochOrder(folder.train.length, true, seed, e + 1)),
    geos: folder.train.map((_, i) => {
      const g = geometryOf(trainT, seed, e + 1, i, sourceSize);
      return { left: g.crop.left, top: g.crop.top, width: g.crop.width, height: g.crop.height, flip: g.flip };
    }),
  }));
  const meta = {
    seed,
    size: SIZE,
    batch: BATCH,
    checked: n,
    files: folder.train.map((s) => s.path),
    labels: folder.train.map((s) => s.label),
    val_files: folder.val.map((s) => s.path),
    val_labels: folder.val.map((s) => s.label),
    source: sourceSize,
    paths,
    epochs,
    data,
  };
  const metaPath = join(tmp, 'check.json');
  writeFileSync(metaPath, JSON.stringify(meta));
  return python(['bench/e2e_torch_pipelines.py', metaPath], 'bench/e2e_torch_pipelines.py');
}

interface TorchRun {
  val_acc: number[];
  best: number;
}

/** Part 2, one seed: the twin on torchvision's pipeline and on headstart's batches. */
async function trainBoth(tmp: string, data: string, folder: ImageFolder, seed: number): Promise<{ own: TorchRun; ours: TorchRun }> {
  const spec = getModel('mobilenet_v2_offline');
  const preprocess = { ...spec.preprocess, inputSize: SIZE, resizeSize: Math.round((SIZE * spec.preprocess.resizeSize) / spec.preprocess.inputSize) };
  const init = join(tmp, `init-${seed}.safetensors`);
  await writeOfflineWeights(init, CLASSES.length, seed);
  let own = { epochs: [] as { val_acc: number }[], best_val_acc: NaN };
  if (OWN) {
    log(`\n== seed ${seed}: PyTorch twin, torchvision's pipeline`);
    const ownOut = python(
      ['bench/e2e_torch.py', 'train', data, init, 'finetune', String(EPOCHS), String(THREADS), '0', String(seed), 'mobilenet_v2_offline', String(LR), String(SIZE)],
      'bench/e2e_torch.py',
    );
    own = JSON.parse(ownOut.trim().split('\n').pop()!) as typeof own;
  }

  log(`== seed ${seed}: PyTorch twin, headstart's batches`);
  const trainT = buildTrainTransform(preprocess);
  const evalT = buildEvalTransform(preprocess);
  const dump = join(tmp, `batches-${seed}`);
  const trainSizes: number[][] = [];
  for (let epoch = 1; epoch <= EPOCHS; epoch++) {
    trainSizes.push(await dumpBatches(imageBatches(folder.train, trainT, { batchSize: BATCH, shuffle: true, seed, epoch }), `${dump}-train-${epoch}.f32`, `${dump}-train-${epoch}.i32`));
  }
  const valSizes = await dumpBatches(imageBatches(folder.val, evalT, { batchSize: 32, shuffle: false, seed, epoch: 0 }), `${dump}-val.f32`, `${dump}-val.i32`);
  const metaPath = join(tmp, `same-batches-${seed}.json`);
  writeFileSync(
    metaPath,
    JSON.stringify({
      size: SIZE,
      lr: LR,
      seed,
      threads: THREADS,
      freeze_bn: false,
      fp64: false,
      num_classes: CLASSES.length,
      init,
      dump,
      train_sizes: trainSizes,
      val_sizes: valSizes,
      headstart: null,
    }),
  );
  const oursOut = python(['bench/e2e_torch_same_batches.py', metaPath], 'bench/e2e_torch_same_batches.py');
  const ours = JSON.parse(oursOut.trim().split('\n').pop()!) as { same_batches: { torch_val_acc: number }[] };
  for (const f of [...trainSizes.flatMap((_, e) => [`${dump}-train-${e + 1}.f32`, `${dump}-train-${e + 1}.i32`]), `${dump}-val.f32`, `${dump}-val.i32`]) rmSync(f, { force: true });
  const oursVal = ours.same_batches.map((e) => e.torch_val_acc);
  return { own: { val_acc: own.epochs.map((e) => e.val_acc), best: own.best_val_acc }, ours: { val_acc: oursVal, best: Math.max(...oursVal) } };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));

async function main(tmp: string) {
  const data = join(tmp, 'real-data');
  const trainPerClass = env('E2E_REAL_TRAIN_PER_CLASS', 50);
  const valPerClass = env('E2E_REAL_VAL_PER_CLASS', 50);
  await makeFashionMnistFolder(data, { trainPerClass, valPerClass, size: 224 });
  const checkSeed = env('E2E_SEED', 0);
  const folder = await scanImageFolder(data, { valFraction: 0.2, seed: checkSeed });
  console.log(`# headstart's training pipeline vs torchvision's on the real-data case (${folder.train.length} train / ${folder.val.length} val images, ${SIZE} px crops)\n`);
  console.log('## 1. The pipeline, stage by stage and in distribution\n');
  console.log((await checkPipeline(tmp, data, folder, checkSeed)).trimEnd());

  const seeds = (process.env.E2E_SEEDS ?? '0,1,2,3,4')
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(Number);
  if (!seeds.length) return;
  const rows: { seed: number; own: TorchRun; ours: TorchRun }[] = [];
  for (const seed of seeds) {
    const f = await scanImageFolder(data, { valFraction: 0.2, seed });
    const r = await trainBoth(tmp, data, f, seed);
    rows.push({ seed, ...r });
    log(`seed ${seed}: best val, torchvision's pipeline ${r.own.best.toFixed(3)}, headstart's batches ${r.ours.best.toFixed(3)}`);
  }
  const pct = (x: number) => (100 * x).toFixed(1);
  console.log(`\n## 2. The PyTorch twin trained on each pipeline's batches (${EPOCHS} epochs, lr ${LR}, batch ${BATCH}; val accuracy per epoch, %)\n`);
  console.log(`| seed | torchvision's pipeline | best | headstart's batches | best | difference (points) |`);
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.seed} | ${r.own.val_acc.map(pct).join(' ')} | ${pct(r.own.best)} | ${r.ours.val_acc.map(pct).join(' ')} | ${pct(r.ours.best)} | ${(100 * (r.ours.best - r.own.best)).toFixed(1)} |`,
    );
  }
  const own = rows.map((r) => r.own.best);
  const ours = rows.map((r) => r.ours.best);
  if (!OWN) {
    console.log(`\nbest val on headstart's batches (mean ± sd over ${rows.length} seeds): ${pct(mean(ours))} ± ${pct(sd(ours))} (torchvision's pipeline skipped: E2E_PIPELINES_OWN=0)`);
    console.log(JSON.stringify({ seeds, epochs: EPOCHS, size: SIZE, best_headstart_batches: ours }));
    return;
  }
  const diff = rows.map((r) => 100 * (r.ours.best - r.own.best));
  const se = sd(diff) / Math.sqrt(diff.length);
  console.log(
    `\nbest val (mean ± sd over ${rows.length} seeds): torchvision's pipeline ${pct(mean(own))} ± ${pct(sd(own))}, headstart's batches ${pct(mean(ours))} ± ${pct(sd(ours))}; ` +
      `difference (headstart's batches − torchvision's) ${mean(diff).toFixed(1)} ± ${sd(diff).toFixed(1)} points (standard error ${se.toFixed(1)}, t = ${se > 0 ? (mean(diff) / se).toFixed(2) : 'n/a'})`,
  );
  console.log(
    JSON.stringify({
      seeds,
      epochs: EPOCHS,
      size: SIZE,
      best_own: own,
      best_headstart_batches: ours,
      diff_points: diff,
      diff_mean: Number(mean(diff).toFixed(2)),
      diff_sd: Number(sd(diff).toFixed(2)),
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const tmp = mkdtempSync(join(os.tmpdir(), 'headstart-bench-pipelines-'));
  try {
    await main(tmp);
  } finally {
    if (process.env.E2E_KEEP) log(`kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  }
}
