/**
 * bench:data — decoding + transform throughput on 2,000 generated JPEGs of 500x375 (the size
 * of Dogs vs Cats photos), for both transforms:
 * - train: RandomResizedCrop(224) + RandomHorizontalFlip + Normalize (headstart's default path:
 *   libvips decode of the crop and its downscale, JPEG shrink-on-load for crops that shrink 6x
 *   or more, PIL's resampler in JS fused with the normalisation where it upscales);
 * - eval: Resize(256) + CenterCrop(224) + Normalize (what predict, evaluate and feature
 *   extraction use; torchvision's bytes exactly: libvips decodes the pixels the crop needs,
 *   PIL's resampler in JS resizes them);
 * headstart's loader (sharp/libvips, batches of 32, default options, each batch released
 * after use as a trainer does) side by side with PyTorch's DataLoader (PIL, the same
 * transforms, num_workers = cores, persistent workers, its fastest malloc settings) in the
 * same run. Epochs alternate between the two so machine noise hits both; medians are
 * reported. Each round prints the CPU cores each side kept busy and its CPU time per image
 * (from /proc, PyTorch's worker processes included): on a shared machine the images/s ratio
 * follows how much CPU each side gets, CPU-ms/img is the efficiency.
 * The last line is {"data": R, "eval": R, "decoder": "native" | "sharp"} with R = headstart images/s / PyTorch images/s
 * (medians) for the train and the eval transform.
 *
 *   npm run bench:data                                   (2000 images, 3 rounds, batch 32)
 *   BENCH_IMAGES=500 BENCH_ROUNDS=2 BENCH_BATCH=8 npm run bench:data
 *   BENCH_WIDTH=3000 BENCH_HEIGHT=2250 BENCH_IMAGES=300 npm run bench:data   phone-size photos (JPEG shrink-on-load)
 *   BENCH_MALLOC=1 npm run bench:data    headstart with the malloc settings PyTorch's side always gets
 *   BENCH_EXACT=1 npm run bench:data     also times --exact-augment (PIL-exact JS resampling)
 *   BENCH_LIBVIPS=1 npm run bench:data   also times the libvips crop+resize path (libvipsAugment)
 *   BENCH_SHARP=1 npm run bench:data     also times both transforms on the sharp path (HEADSTART_NATIVE_DECODE=0)
 * JPEGs go through the native decoder (libjpeg-turbo + PIL's resampler in C++, native/headstart_image.cc)
 * where it is built, else through sharp; the first line says which (HEADSTART_NATIVE_DECODE=0 forces
 * sharp) and the last JSON line carries it as "decoder".
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { createLoader } from '../src/data/loader.js';
import { jpegDecoderName, loadNativeImage } from '../src/data/native-image.js';
import type { Pipeline } from '../src/data/pipeline.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import type { Sample } from '../src/data/sample.js';
import { Random, randomInt } from '../src/random.js';

const count = Number(process.env.BENCH_IMAGES ?? 2000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const batchSize = Number(process.env.BENCH_BATCH ?? 32);
const cores = os.availableParallelism();
/** Image size (default 500x375); other sizes are the same 500x375 content resized (e.g. 3000x2250 phone photos: shrink-on-load). */
const W = Number(process.env.BENCH_WIDTH ?? 500);
const H = Number(process.env.BENCH_HEIGHT ?? 375);
const CW = 500;
const CH = 375;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Photo-like JPEGs: crops of a few smooth, noisy textures with per-image colour shifts. */
async function generate(dir: string): Promise<void> {
  const marker = join(dir, `complete-${count}`);
  if (existsSync(marker)) return;
  mkdirSync(dir, { recursive: true });
  const rng = new Random(2024);
  const BW = 2 * CW;
  const BH = 2 * CH;
  const bases: Uint8Array[] = [];
  for (let b = 0; b < 6; b++) {
    const waves = Array.from({ length: 6 }, () => ({ fx: rng.uniform(0, 0.06), fy: rng.uniform(0, 0.06), ph: rng.uniform(0, 6.28), c: [rng.next(), rng.next(), rng.next()] }));
    const px = new Uint8Array(BW * BH * 3);
    for (let y = 0; y < BH; y++) {
      for (let x = 0; x < BW; x++) {
        for (let c = 0; c < 3; c++) {
          let v = 0;
          for (const w of waves) v += w.c[c] * Math.sin(w.fx * x + w.fy * y + w.ph);
          px[(y * BW + x) * 3 + c] = Math.max(0, Math.min(255, 128 + 38 * v + rng.uniform(-12, 12)));
        }
      }
    }
    bases.push(px);
  }
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const base = bases[i % bases.length];
    const ox = randomInt(rng, 0, BW - CW);
    const oy = randomInt(rng, 0, BH - CH);
    const shift = [randomInt(rng, -40, 40), randomInt(rng, -40, 40), randomInt(rng, -40, 40)];
    const px = Buffer.alloc(CW * CH * 3);
    for (let y = 0; y < CH; y++) {
      let s = ((y + oy) * BW + ox) * 3;
      let d = y * CW * 3;
      for (let x = 0; x < CW; x++, s += 3, d += 3) {
        px[d] = Math.max(0, Math.min(255, base[s] + shift[0]));
        px[d + 1] = Math.max(0, Math.min(255, base[s + 1] + shift[1]));
        px[d + 2] = Math.max(0, Math.min(255, base[s + 2] + shift[2]));
      }
    }
    jobs.push(
      sharp(px, { raw: { width: CW, height: CH, channels: 3 } })
        .resize(W, H, { fit: 'fill', kernel: 'cubic' })
        .jpeg({ quality: 85 })
        .toFile(join(dir, `${String(i).padStart(5, '0')}.jpg`)),
    );
    if (jobs.length >= 8) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  writeFileSync(marker, '');
}

/** CPU seconds (user + system) a process and all its descendants have used so far (Linux /proc). */
function treeCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let ticks = Number(f[11]) + Number(f[12]);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const kid of kids ? kids.split(' ') : []) ticks += treeCpuSeconds(Number(kid)) * 100;
    }
    return ticks / 100;
  } catch {
    return NaN;
  }
}

type Kind = 'train' | 'eval';
interface Rate {
  rate: number;
  cores: number;
}
const cpuMs = (r: Rate) => (r.cores / r.rate) * 1000;
const show = (r: Rate) => `${r.rate.toFixed(0)} img/s (${r.cores.toFixed(2)} cores busy, ${cpuMs(r).toFixed(2)} CPU-ms/img)`;

/** The PyTorch DataLoaders in a long-lived process: one epoch of a transform per request. */
function startTorch(dir: string) {
  const child = spawn('/usr/bin/python3', ['scripts/data_bench_torch.py', dir, String(batchSize), String(cores)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...MALLOC_ENV },
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const read = async () => {
    const r = await lines.next();
    if (r.done) throw new Error('scripts/data_bench_torch.py exited early (is python3-torchvision installed?)');
    return JSON.parse(r.value) as { images: number; seconds: number; ready?: number };
  };
  return {
    ready: read,
    /** images/s and CPU cores used (workers included) during one epoch. */
    async epoch(kind: Kind): Promise<Rate> {
      const cpu0 = treeCpuSeconds(child.pid!);
      child.stdin.write(`epoch ${kind}\n`);
      const r = await read();
      return { rate: r.images / r.seconds, cores: (treeCpuSeconds(child.pid!) - cpu0) / r.seconds };
    },
    stop: () => child.stdin.end('quit\n'),
  };
}

/** The allocator settings the PyTorch side always gets (glibc reads them at start-up only). */
const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '4000000000', MALLOC_TOP_PAD_: '536870912' };

/**
 * BENCH_MALLOC=1: run headstart's side with them too, by starting this script again with them
 * in its environment (libvips' buffers then stop being returned to the kernel and faulted in
 * again on every image). Returns the child's exit code, or null when this process should run.
 */
function rerunWithMalloc(): number | null {
  if (process.env.BENCH_MALLOC !== '1' || process.env.MALLOC_TRIM_THRESHOLD_) return null;
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: { ...process.env, ...MALLOC_ENV } });
  return r.status ?? 1;
}

async function main(): Promise<void> {
  if (process.env.MALLOC_TRIM_THRESHOLD_)
    console.log(
      `headstart runs with ${Object.entries(MALLOC_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')} (BENCH_MALLOC=1)`,
    );
  const dir = join(os.tmpdir(), `headstart-bench-data-${W}x${H}`);
  let t = performance.now();
  await generate(dir);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, count);
  console.log(`${files.length} JPEGs of ${W}x${H} in ${dir} (${((performance.now() - t) / 1000).toFixed(1)} s to prepare); ${cores} cores, batch ${batchSize}`);
  const decoder = 'addon' in loadNativeImage() ? 'native' : 'sharp';
  console.log(`JPEG decoder: ${jpegDecoderName()}`);
  const samples: Sample[] = files.map((f) => ({ path: join(dir, f), label: 0 }));
  const pipelines: Record<Kind | 'exact' | 'libvips', Pipeline> = {
    train: buildTrainTransform(IMAGENET_PREPROCESS),
    eval: buildEvalTransform(IMAGENET_PREPROCESS),
    exact: buildTrainTransform(IMAGENET_PREPROCESS, { exactAugment: true }),
    libvips: buildTrainTransform(IMAGENET_PREPROCESS, { libvipsAugment: true }),
  };
  let epoch = 0;
  const headstart = async (kind: Kind | 'exact' | 'libvips', sharpOnly = false): Promise<Rate> => {
    if (sharpOnly) process.env.HEADSTART_NATIVE_DECODE = '0';
    try {
      return await epochOf(kind);
    } finally {
      if (sharpOnly && nativeSetting === undefined) delete process.env.HEADSTART_NATIVE_DECODE;
      else if (sharpOnly) process.env.HEADSTART_NATIVE_DECODE = nativeSetting;
    }
  };
  const nativeSetting = process.env.HEADSTART_NATIVE_DECODE;
  const epochOf = async (kind: Kind | 'exact' | 'libvips'): Promise<Rate> => {
    const loader = createLoader(samples, pipelines[kind], { batchSize, shuffle: true, seed: 1, epoch: epoch++ });
    const cpu0 = treeCpuSeconds(process.pid);
    const t0 = performance.now();
    let n = 0;
    for await (const b of loader) {
      n += b.size;
      b.release(); // a trainer releases each batch after its step, so buffers are recycled
    }
    const secs = (performance.now() - t0) / 1000;
    if (loader.skipped.length) throw new Error(`headstart skipped ${loader.skipped.length} files: ${loader.skipped[0].reason}`);
    return { rate: n / secs, cores: (treeCpuSeconds(process.pid) - cpu0) / secs };
  };

  const torch = startTorch(dir);
  await torch.ready();
  t = performance.now();
  for (const kind of ['train', 'eval'] as const) {
    await torch.epoch(kind); // warm-up: worker start-up
    await headstart(kind); // warm-up: JIT, libvips
  }
  console.log(`warm-up ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const kinds: Kind[] = ['train', 'eval'];
  const ours: Record<Kind, Rate[]> = { train: [], eval: [] };
  const theirs: Record<Kind, Rate[]> = { train: [], eval: [] };
  const exact: Rate[] = [];
  const libvips: Rate[] = [];
  const viaSharp: Record<Kind, Rate[]> = { train: [], eval: [] };
  for (let r = 0; r < rounds; r++) {
    for (const kind of kinds) {
      const tr = await torch.epoch(kind);
      const h = await headstart(kind);
      theirs[kind].push(tr);
      ours[kind].push(h);
      console.log(`round ${r + 1} ${kind.padEnd(5)}: headstart ${show(h)}, PyTorch ${show(tr)}`);
    }
    if (process.env.BENCH_EXACT === '1') {
      const e = await headstart('exact');
      exact.push(e);
      console.log(`round ${r + 1} train --exact-augment: headstart ${show(e)}`);
    }
    if (process.env.BENCH_SHARP === '1' && decoder === 'native') {
      for (const kind of kinds) {
        const e = await headstart(kind, true);
        viaSharp[kind].push(e);
        console.log(`round ${r + 1} ${kind.padEnd(5)} on sharp (HEADSTART_NATIVE_DECODE=0): headstart ${show(e)}`);
      }
    }
    if (process.env.BENCH_LIBVIPS === '1') {
      const e = await headstart('libvips');
      libvips.push(e);
      console.log(`round ${r + 1} train libvipsAugment: headstart ${show(e)}`);
    }
  }
  torch.stop();
  const med = (rs: Rate[]) => ({ rate: median(rs.map((x) => x.rate)), cpuMs: median(rs.map(cpuMs)) });
  const ratio: Record<Kind, number> = { train: 0, eval: 0 };
  for (const kind of kinds) {
    const a = med(ours[kind]);
    const b = med(theirs[kind]);
    ratio[kind] = a.rate / b.rate;
    console.log(
      `${kind}: headstart (${decoder === 'native' ? 'native libjpeg-turbo' : 'sharp'}, ${pipelines[kind].describe()}): ${a.rate.toFixed(1)} images/s, ${a.cpuMs.toFixed(2)} CPU-ms/img (medians of ${rounds})`,
    );
    console.log(
      `${kind}: PyTorch DataLoader (PIL, ${cores} workers): ${b.rate.toFixed(1)} images/s, ${b.cpuMs.toFixed(2)} CPU-ms/img -> ${ratio[kind].toFixed(2)}x images/s, ${(b.cpuMs / a.cpuMs).toFixed(2)}x less CPU per image`,
    );
  }
  if (exact.length) {
    const e = med(exact);
    console.log(`train --exact-augment: headstart ${e.rate.toFixed(1)} images/s, ${e.cpuMs.toFixed(2)} CPU-ms/img`);
  }
  for (const kind of kinds) {
    if (!viaSharp[kind].length) continue;
    const e = med(viaSharp[kind]);
    console.log(`${kind} on sharp (HEADSTART_NATIVE_DECODE=0): headstart ${e.rate.toFixed(1)} images/s, ${e.cpuMs.toFixed(2)} CPU-ms/img`);
  }
  if (libvips.length) {
    const e = med(libvips);
    console.log(`train libvipsAugment: headstart ${e.rate.toFixed(1)} images/s, ${e.cpuMs.toFixed(2)} CPU-ms/img`);
  }
  console.log(JSON.stringify({ data: Number(ratio.train.toFixed(3)), eval: Number(ratio.eval.toFixed(3)), decoder }));
}

const rerun = rerunWithMalloc();
if (rerun === null) await main();
else process.exitCode = rerun;
