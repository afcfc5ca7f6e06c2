import sharp from 'sharp';
import { resample } from '/work/wt11/src/data/transforms/resample.ts';
import { createRgbImage } from '/work/wt11/src/data/rgb-image.ts';
const W = 12, H = 3;
const img = createRgbImage(W, H);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) img.data[(y*W+x)*3+c] = x === 4 ? 250 : 10 + x * 7;
const row = (d: Uint8Array, w: number, off = 0, n = w) => Array.from({ length: n }, (_, x) => d[(x + off)*3]).join(' ');
for (const ml of [0, 1, 2]) for (const s of [2.5, 1.3, 7]) {
  const cw = 6; const ow = Math.round(cw * s); const sx = ow / cw;
  const crop = createRgbImage(cw, H); for (let y=0;y<H;y++) crop.data.set(img.data.subarray((y*W+4-0)*3, (y*W+4+cw)*3), y*cw*3);
  // crop at left=4 ; region = [4-ml, 4+cw+ml)
  const ref = resample(crop, { width: ow, height: H }, 'bilinear');
  const rw = cw + 2 * ml;
  const idx = 0.5 - 0.5 / sx - ml;
  const out = await sharp(Buffer.from(img.data), { raw: { width: W, height: H, channels: 3 } }).extract({ left: 4 - ml, top: 0, width: rw, height: H }).affine([sx, 0, 0, 1], { idx, idy: 0, interpolator: 'bilinear' }).raw().toBuffer({ resolveWithObject: true });
  const bl = sx * idx;
  console.log(`ml=${ml} s=${sx.toFixed(3)} outW=${out.info.width} bboxLeft=${bl.toFixed(3)}`);
  console.log('  pil', row(ref.data, ow));
  console.log('  aff', row(out.data, out.info.width));
}
