/**
 * One phase of bench:drill (bench/drill.ts), in its own process so its peak RSS is its own.
 * Prints one JSON line: {phase, seconds, maxRssMB, ...facts}.
 *
 *   node --import tsx bench/drill-phase.ts <phase> <root> <work dir> <model> <input size>
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { predictCommand } from '../src/cli/commands/predict.js';
import { doctor } from '../src/data/doctor.js';
import { formatDoctorReport } from '../src/data/format-doctor-report.js';
import { scanImageFolder } from '../src/data/image-folder.js';
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
    // The report as `headstart doctor` prints it (every 64x48 image is a "smaller than the crop" note).
    const r = await doctor(root);
    const text = formatDoctorReport(r);
    Object.assign(facts, { images: r.files.images, decoded: r.files.decoded, verdict: r.verdict, findings: r.findings.length, reportLines: text.split('\n').length });
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
    // `headstart predict <model> <root> --format csv` as on a terminal: rows written to the file
    // as each batch comes (synchronously, as process.stdout does to a file), the progress bar on "stderr".
    const fd = openSync(join(work, 'predictions.csv'), 'w');
    let rows = -1; // the header
    let bars = 0;
    let lastBar = '';
    const io = {
      out: (t: string) => {
        writeSync(fd, t);
        for (let i = t.indexOf('\n'); i >= 0; i = t.indexOf('\n', i + 1)) rows++;
      },
      err: (t: string) => {
        if (/predict \[/.test(t)) {
          bars++;
          lastBar = t.trim();
        } else if (t.trim()) process.stderr.write(t);
      },
      tty: true,
    };
    const code = await predictCommand([join(work, 'run-a', 'model.onnx'), root, '--format', 'csv', '--top-k', '1', '--batch-size', '64'], io);
    closeSync(fd);
    if (code !== 0) throw new Error(`predict exited with ${code}`);
    Object.assign(facts, { predicted: rows, progressUpdates: bars, lastProgress: lastBar });
  } else throw new Error(`unknown phase ${phase}`);
}

await run();
clearInterval(sampler);
const maxRssMB = Math.max(process.resourceUsage().maxRSS / 1024, peak / 2 ** 20);
console.log(JSON.stringify({ phase, seconds: Number(((performance.now() - t0) / 1000).toFixed(1)), maxRssMB: Number(maxRssMB.toFixed(0)), ...facts }));
