import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { buildTrainTransform } from '/work/wt11/src/data/build-transforms.ts';
import { decodeImage } from '/work/wt11/src/data/decode.ts';
import { IMAGENET_PREPROCESS } from '/work/wt11/src/data/preprocess.ts';
import { Random } from '/work/wt11/src/random.ts';
const A = '/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets/';
const spec = { ...IMAGENET_PREPROCESS, mean: [0,0,0], std: [1,1,1] } as any;
// sharp-edged synthetic: checkerboard + stripes
function edges(w: number, h: number) { const b = Buffer.alloc(w*h*3); for (let y=0;y<h;y++) for (let x=0;x<w;x++) { const v = ((x>>3) + (y>>3)) & 1 ? 230 : 20; b[(y*w+x)*3]=v; b[(y*w+x)*3+1]= x%17<3?255:v; b[(y*w+x)*3+2]= y%11<2?0:255-v; } return b; }
const inputs: [string, Buffer][] = [['f3', readFileSync(A+'f3.jpg')], ['verify', readFileSync(A+'verify.jpeg')]];
inputs.push(['edges.png', await sharp(edges(500,375), { raw: { width: 500, height: 375, channels: 3 } }).png().toBuffer()]);
inputs.push(['edges.jpg', await sharp(edges(500,375), { raw: { width: 500, height: 375, channels: 3 } }).jpeg({quality:95}).toBuffer()]);
inputs.push(['f3x3.jpg', await sharp(readFileSync(A+'f3.jpg')).resize(2160, 1431, {kernel:'cubic'}).jpeg({quality:92}).toBuffer()]);
inputs.push(['edgesBig.jpg', await sharp(edges(2000,1500), { raw: { width: 2000, height: 1500, channels: 3 } }).jpeg({quality:95}).toBuffer()]);
for (const interpolation of ['bilinear', 'bicubic'] as const) {
  const fast = buildTrainTransform({ ...spec, interpolation });
  const exact = buildTrainTransform({ ...spec, interpolation }, { exactAugment: true });
  for (const [name, bytes] of inputs) {
    let s = 0, worst = 0; const n = 40;
    for (let i = 0; i < n; i++) {
      const a = await fast.tensor(bytes, Random.derive(3, i));
      const b = await exact.tensor(bytes, Random.derive(3, i));
      let d = 0; for (let k = 0; k < a.length; k++) d += Math.abs(a[k]-b[k]); d /= a.length; s += d; worst = Math.max(worst, d);
    }
    console.log(interpolation, name, 'mean', (s/n).toFixed(4), 'worst', worst.toFixed(4));
  }
}
