import { readFileSync, readdirSync } from 'node:fs';
import { buildEvalTransform, buildTrainTransform } from '/work/wt11/src/data/build-transforms.ts';
import { IMAGENET_PREPROCESS } from '/work/wt11/src/data/preprocess.ts';
import { Pipeline } from '/work/wt11/src/data/pipeline.ts';
import { randomResizedCrop } from '/work/wt11/src/data/transforms/random-resized-crop.ts';
import { randomHorizontalFlip } from '/work/wt11/src/data/transforms/horizontal-flip.ts';
import { Random } from '/work/wt11/src/random.ts';
import sharp from 'sharp';
const dir = '/tmp/headstart-bench-data-500x375';
const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).slice(0, 150).map((f) => readFileSync(dir + '/' + f));
const out = new Float32Array(3 * 224 * 224);
const pipes: Record<string, Pipeline> = {
  fast: buildTrainTransform(IMAGENET_PREPROCESS),
  previous: new Pipeline([randomResizedCrop(224), randomHorizontalFlip()], IMAGENET_PREPROCESS),
  eval: buildEvalTransform(IMAGENET_PREPROCESS),
};
async function cpu(label: string, f: (b: Buffer, i: number) => Promise<unknown>) {
  for (let i = 0; i < 20; i++) await f(files[i], i);
  const c0 = process.cpuUsage();
  for (let r = 0; r < 2; r++) for (let i = 0; i < files.length; i++) await f(files[i], i);
  const c = process.cpuUsage(c0);
  console.log(label.padEnd(22), ((c.user + c.system) / 1000 / (2 * files.length)).toFixed(2), 'CPU-ms/img');
}
for (const [k, p] of Object.entries(pipes)) await cpu(k, (b, i) => p.run(b, Random.derive(1, i), out, 0));
sharp.cache(false); sharp.concurrency(1);
await cpu('sharp decode only', (b) => sharp(b).raw().toBuffer());
await cpu('sharp decode+shrink', (b) => sharp(b).resize(224, 224, { fit: 'fill' }).raw().toBuffer());
await cpu('sharp metadata', (b) => sharp(b).metadata());
