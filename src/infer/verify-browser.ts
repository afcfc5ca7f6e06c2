/**
 * `headstart verify --browser`: the self-check of a classifier file in headless Chromium with
 * onnxruntime-web (wasm, one thread). The page decodes the stored PNGs itself, normalises
 * them with the stored mean/std and runs the model; the comparison is the one
 * verifyClassifier uses. onnxruntime-web's files are served from node_modules (no network);
 * Chromium is Debian's /usr/bin/chromium, or $HEADSTART_CHROMIUM.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { EngineError, WeightsError } from '../errors.js';
import { readClassifier } from './model-file.js';
import { checkStoredPreprocess, verificationOf, type VerifyOptions, type VerifyReport } from './verification.js';
import { compareSample, type SampleObservation } from './verification-record.js';

const ORIGIN = 'http://headstart.localhost';
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };

/** Where Chromium is expected: $HEADSTART_CHROMIUM, else Debian's. */
export function chromiumPath(): string {
  return process.env.HEADSTART_CHROMIUM ?? '/usr/bin/chromium';
}

interface PageInput {
  samples: string[];
  mean: number[];
  std: number[];
  size: number;
  outputs: string[];
}

/** Runs in the page: decode, normalise (torch's float32 sequence), run; one observation per sample. */
async function inPage(input: PageInput): Promise<SampleObservation[]> {
  const w = globalThis as unknown as {
    ort: {
      env: { wasm: { numThreads: number; wasmPaths: string } };
      Tensor: new (type: string, data: Float32Array, dims: number[]) => unknown;
      InferenceSession: { create(bytes: Uint8Array): Promise<{ run(feeds: Record<string, unknown>, outputs: string[]): Promise<Record<string, { data: ArrayLike<number | boolean> }>> }> };
    };
  };
  const ort = w.ort;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/ort/';
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const session = await ort.InferenceSession.create(bytes);
  const { size, mean, std } = input;
  const out: SampleObservation[] = [];
  for (const b64 of input.samples) {
    const png = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([png], { type: 'image/png' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = new OffscreenCanvas(size, size);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const rgba = ctx.getImageData(0, 0, size, size).data;
    const plane = size * size;
    const x = new Float32Array(3 * plane);
    const inputMean: number[] = [];
    const inputStd: number[] = [];
    for (let c = 0; c < 3; c++) {
      const m = Math.fround(mean[c]);
      const s = Math.fround(std[c]);
      let sum = 0;
      let sum2 = 0;
      for (let p = 0; p < plane; p++) {
        const v = Math.fround(Math.fround(Math.fround(rgba[p * 4 + c] / 255) - m) / s);
        x[c * plane + p] = v;
        sum += v;
        sum2 += v * v;
      }
      inputMean.push(sum / plane);
      inputStd.push(Math.sqrt(Math.max(0, sum2 / plane - (sum / plane) ** 2)));
    }
    const r = await session.run({ images: new ort.Tensor('float32', x, [1, 3, size, size]) }, input.outputs);
    const logits = Array.from(r.logits.data as ArrayLike<number>);
    let probabilities: number[];
    if (r.probabilities) probabilities = Array.from(r.probabilities.data as ArrayLike<number>);
    else {
      const max = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - max));
      const z = e.reduce((a, b) => a + b, 0);
      probabilities = e.map((v) => v / z);
    }
    out.push({
      inputMean,
      inputStd,
      probabilities,
      ...(r.score ? { score: Number(r.score.data[0]) } : {}),
      ...(r.unknown ? { unknown: Boolean(r.unknown.data[0]) } : {}),
    });
  }
  return out;
}

/** The browser twin of verifyClassifier: throws E_VERIFY_MISMATCH on the first difference, E_NO_BROWSER without Chromium. */
export async function verifyClassifierInBrowser(modelPath: string, options: Omit<VerifyOptions, 'threads'> = {}): Promise<VerifyReport> {
  const where = `\`${modelPath}\``;
  const file = await readClassifier(modelPath);
  const record = verificationOf(file, where);
  const p = file.metadata.preprocess;
  checkStoredPreprocess(p, record, where);
  const exe = chromiumPath();
  if (!existsSync(exe)) {
    throw new EngineError('E_NO_BROWSER', `verify --browser needs Chromium, not found at \`${exe}\``, {
      hint: 'install it (Debian: apt-get install chromium) or point $HEADSTART_CHROMIUM at a Chromium binary',
    });
  }
  const { chromium } = await import('playwright-core');
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('onnxruntime-web'));
  let browser;
  try {
    browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox'] });
  } catch (err) {
    throw new EngineError('E_NO_BROWSER', `Chromium at \`${exe}\` did not start: ${(err as Error).message.split('\n')[0]}`, { hint: 'check that it runs: chromium --headless --version', cause: err });
  }
  const mean = options.mean ?? p.mean;
  const std = options.std ?? p.std;
  let seen: SampleObservation[];
  try {
    const page = await browser.newPage();
    await page.route(`${ORIGIN}/**`, async (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path === '/') return route.fulfill({ contentType: 'text/html', body: '<!DOCTYPE html><html><head><script src="/ort/ort.wasm.min.js"></script></head><body></body></html>' });
      if (path === '/model.onnx') return route.fulfill({ contentType: 'application/octet-stream', body: Buffer.from(file.bytes) });
      if (path.startsWith('/ort/') && !path.includes('..')) {
        const name = path.slice(5);
        const ext = name.slice(name.lastIndexOf('.'));
        try {
          return await route.fulfill({ contentType: TYPES[ext] ?? 'application/octet-stream', body: await readFile(join(dist, name)) });
        } catch {
          return route.fulfill({ status: 404, body: 'not found' });
        }
      }
      return route.fulfill({ status: 404, body: 'not found' });
    });
    await page.goto(`${ORIGIN}/`);
    const outputs = ['logits', 'probabilities', 'score', 'unknown'].filter((n) => file.outputNames.includes(n));
    try {
      seen = await page.evaluate(inPage, { samples: record.samples.map((s) => s.png), mean: [...mean], std: [...std], size: p.inputSize, outputs });
    } catch (err) {
      throw new EngineError('E_ENGINE_RUN', `onnxruntime-web in Chromium failed running ${where}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
    }
  } finally {
    await browser.close();
  }
  let maxDifference = 0;
  for (let i = 0; i < record.samples.length; i++) {
    const diff = compareSample(record, i, seen[i], file.metadata.classes, { mean, std });
    if (diff) {
      throw new WeightsError('E_VERIFY_MISMATCH', `${where} does not reproduce its self-check in onnxruntime-web (Chromium): ${diff}`, {
        hint: options.mean || options.std ? 'the runtime must normalise with the mean/std stored in the model' : 'this runtime computes differently from onnxruntime-node beyond the tolerance',
      });
    }
    for (const t of record.samples[i].top) maxDifference = Math.max(maxDifference, Math.abs(seen[i].probabilities[t.index] - t.probability));
  }
  return { model: modelPath, samples: record.samples.length, maxDifference, tolerance: record.tolerance, runtime: 'onnxruntime-web (Chromium)' };
}
