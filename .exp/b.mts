import sharp from 'sharp';
import { resample } from '/work/wt11/src/data/transforms/resample.ts';
import { createRgbImage } from '/work/wt11/src/data/rgb-image.ts';
const W = 10, H = 4;
const img = createRgbImage(W, H);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) img.data[(y*W+x)*3+c] = x === 4 ? 250 : 10 + x * 2;
const ref = resample(img, { width: 25, height: H }, 'bilinear');
const row = (d: Uint8Array, w: number) => Array.from({ length: w }, (_, x) => d[x*3]).join(' ');
console.log('pil ', row(ref.data, 25));
for (const kernel of ['linear', 'cubic', 'nearest', 'mitchell', 'lanczos3'] as const) {
  const out = await sharp(Buffer.from(img.data), { raw: { width: W, height: H, channels: 3 } }).resize(25, H, { fit: 'fill', kernel }).raw().toBuffer();
  console.log(kernel.padEnd(4), row(out, 25));
}
const s = 2.5;
for (const interp of ['bilinear', 'bicubic'] as const) {
const out2 = await sharp(Buffer.from(img.data), { raw: { width: W, height: H, channels: 3 } }).affine([s, 0, 0, 1], { idx: 0.5 - 0.5 / s, idy: 0, interpolator: interp }).raw().toBuffer({ resolveWithObject: true });
console.log('aff', out2.info.width, row(out2.data, out2.info.width));
}
