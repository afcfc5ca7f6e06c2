/**
 * One phase of bench:drill (bench/drill.ts), in its own process so its peak RSS is its own.
 * Prints one JSON line: {phase, seconds, maxRssMB, ...facts}.
 *
 *   node --import tsx bench/drill-phase.ts <phase> <root> <work dir> <model> <input size>
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { doctor } from '../src/data/doctor.js';
import { scanImageFolder } from '../src/data/image-folder.js';
import { PREDICTIONS_CSV_HEADER, predictionCsvRows } from '../src/infer/format-predictions.js';
import { predictStream } from '../src/infer/predict.js';
import { train } from '../src/train/train.js';

const [phase, root, work, model, inputSizeArg] = process.argv.slice(2);
const inputSize = Number(inputSizeArg);
const t0 = performance.now();
const facts: Record<string, unknown> = {};
// Peak RSS sampled while the phase runs too (resourceUsage's maxRSS is the authority).
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 200);
sampler.unref();

async function run(): Promise<void> {
  if (phase === 'baseline') {
    // The modules every phase loads (node, sharp, onnxruntime, zod), nothing else.
  } else if (phase === 'scan') {
    const f = await scanImageFolder(root);
    Object.assign(facts, { train: f.train.length, val: f.val.length, classes: f.classes.length });
  } else if (phase === 'doctor') {
    const r = await doctor(root);
    Object.assign(facts, { images: r.files.images, decoded: r.files.decoded, verdict: r.verdict });
  } else if (phase === 'extract+train' || phase === 'train-cached') {
    const r = await train(root, {
      model,
      mode: 'features',
      epochs: 1,
      ...(inputSize ? { inputSize } : {}),
      ...(process.env.DRILL_WEIGHTS ? { weights: process.env.DRILL_WEIGHTS } : {}),
      out: join(work, phase === 'extract+train' ? 'run-a' : 'run-b'),
      cacheDir: join(work, 'cache'),
      batchSize: 64,
    });
    Object.assign(facts, { cacheHit: r.featureCache?.hit, bestValAcc: Number(r.bestValAcc.toFixed(3)) });
  } else if (phase === 'predict') {
    const stream = await predictStream(join(work, 'run-a', 'model.onnx'), root, { topK: 1, batchSize: 64 });
    const out = createWriteStream(join(work, 'predictions.csv'));
    const write = (s: string) => new Promise<void>((resolve) => (out.write(s) ? resolve() : out.once('drain', resolve)));
    await write(PREDICTIONS_CSV_HEADER);
    let n = 0;
    for await (const b of stream) {
      await write(predictionCsvRows(b.predictions));
      n += b.predictions.length;
    }
    await new Promise((r) => out.end(r));
    Object.assign(facts, { predicted: n });
  } else throw new Error(`unknown phase ${phase}`);
}

await run();
clearInterval(sampler);
const maxRssMB = Math.max(process.resourceUsage().maxRSS / 1024, peak / 2 ** 20);
console.log(JSON.stringify({ phase, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)), maxRssMB: Number(maxRssMB.toFixed(0)), ...facts }));
