import { readFileSync, readdirSync } from 'node:fs';
import sharp from 'sharp';
import { sampleResizedCropBox } from '/work/wt11/src/data/transforms/random-resized-crop.ts';
import { Random } from '/work/wt11/src/random.ts';
const dir = '/tmp/headstart-bench-data-500x375';
const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).slice(0, 150).map((f) => readFileSync(dir + '/' + f));
const boxes = files.map((_, i) => sampleResizedCropBox({ width: 500, height: 375 }, Random.derive(1, i)));
async function cpu(label: string, f: (b: Buffer, i: number) => Promise<unknown>) {
  for (let i = 0; i < 20; i++) await f(files[i], i);
  const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let r = 0; r < 2; r++) for (let i = 0; i < files.length; i++) await f(files[i], i);
  const c = process.cpuUsage(c0);
  console.log(label.padEnd(30), ((c.user + c.system) / 1000 / (2 * files.length)).toFixed(2), 'CPU-ms/img', 'wall', ((performance.now()-t0)/(2*files.length)).toFixed(2));
}
sharp.cache(false); sharp.concurrency(1);
const up = (i: number) => { const b = boxes[i]; return { ax: Math.max(1, 224 / b.width), ay: Math.max(1, 224 / b.height) }; };
const build = (b: Buffer, i: number, opts: any, finish: boolean) => {
  const box = boxes[i]; let s = sharp(b, opts).extract(box);
  const tw = box.width > 224 ? 224 : box.width, th = box.height > 224 ? 224 : box.height;
  if (tw !== box.width || th !== box.height) s = s.resize(tw, th, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false });
  const { ax, ay } = up(i);
  if (ax !== 1 || ay !== 1) s = s.affine([ax, 0, 0, ay], { idx: 0.5 - 0.5 / ax, idy: 0.5 - 0.5 / ay, interpolator: sharp.interpolators.bilinear });
  if (finish) s = s.flatten({ background: { r: 255, g: 255, b: 255 } }).toColourspace('srgb').removeAlpha().raw({ depth: 'uchar' }); else s = s.raw();
  return s.toBuffer();
};
await cpu('fast path as is', (b, i) => build(b, i, { autoOrient: true, failOn: 'warning' }, true));
await cpu('no finish', (b, i) => build(b, i, { autoOrient: true, failOn: 'warning' }, false));
await cpu('no finish, no autoOrient', (b, i) => build(b, i, { failOn: 'warning' }, false));
await cpu('sequentialRead no finish', (b, i) => build(b, i, { sequentialRead: true, failOn: 'warning' }, false));
await cpu('only extract', (b, i) => sharp(b).extract(boxes[i]).raw().toBuffer());
await cpu('only resize whole 224', (b, i) => sharp(b).resize(224,224,{fit:'fill', fastShrinkOnLoad:false}).raw().toBuffer());
