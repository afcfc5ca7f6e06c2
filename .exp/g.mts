import { readFileSync, readdirSync } from 'node:fs';
import sharp from 'sharp';
const dir = '/tmp/headstart-bench-data-500x375';
const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).slice(0, 150).map((f) => readFileSync(dir + '/' + f));
async function cpu(label: string, f: (b: Buffer, i: number) => Promise<unknown>) {
  for (let i = 0; i < 20; i++) await f(files[i], i);
  const c0 = process.cpuUsage(); const t0 = performance.now();
  for (let r = 0; r < 2; r++) for (let i = 0; i < files.length; i++) await f(files[i], i);
  const c = process.cpuUsage(c0);
  console.log(label.padEnd(30), ((c.user + c.system) / 1000 / (2 * files.length)).toFixed(2), 'CPU-ms/img', 'user', (c.user/1000/(2*files.length)).toFixed(2), 'sys', (c.system/1000/(2*files.length)).toFixed(2), 'wall', ((performance.now()-t0)/(2*files.length)).toFixed(2));
}
sharp.cache(false);
for (const conc of [1, 0]) {
  sharp.concurrency(conc);
  console.log('concurrency', sharp.concurrency());
  await cpu('decode', (b) => sharp(b).raw().toBuffer());
  await cpu('decode sequentialRead', (b) => sharp(b, { sequentialRead: true }).raw().toBuffer());
  await cpu('decode extract', (b) => sharp(b).extract({left: 10, top: 10, width: 200, height: 200}).raw().toBuffer());
}
console.log(sharp.simd(), sharp.versions.vips);
