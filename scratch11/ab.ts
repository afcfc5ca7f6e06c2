import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildEvalTransform, buildTrainTransform } from '../src/data/build-transforms.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { keyedRandom } from '../src/random.js';
const dir = process.argv[2];
const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, 200).map((f) => join(dir, f));
const bytes = files.map((f) => readFileSync(f));
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const out = new Float32Array(3 * 224 * 224);
const pipes = { train: buildTrainTransform(IMAGENET_PREPROCESS), eval: buildEvalTransform(IMAGENET_PREPROCESS) };
async function run(kind: 'train' | 'eval', native: boolean) {
  process.env.HEADSTART_NATIVE_DECODE = native ? '1' : '0';
  const p = pipes[kind];
  const c0 = cpu();
  const conc = 4;
  let next = 0;
  await Promise.all(Array.from({ length: conc }, async () => { const o = new Float32Array(out.length); while (next < bytes.length) { const i = next++; await p.run(bytes[i], keyedRandom(1, 0, i), o, 0, files[i]); } }));
  return (cpu() - c0) / bytes.length;
}
for (let r = 0; r < 4; r++) {
  const line = [];
  for (const kind of ['train', 'eval'] as const) for (const native of [false, true]) line.push(`${kind} ${native ? 'native' : 'sharp'} ${(await run(kind, native)).toFixed(2)}`);
  console.log(line.join(' | '));
}
