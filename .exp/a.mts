import sharp from 'sharp';
import { readFileSync } from 'node:fs';
import { decodeImage } from '/work/wt11/src/data/decode.ts';
import { executeGeometry } from '/work/wt11/src/data/transforms/geometry.ts';
import { sampleResizedCropBox } from '/work/wt11/src/data/transforms/random-resized-crop.ts';
import { Random } from '/work/wt11/src/random.ts';
const files = ['/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets/f3.jpg','/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets/verify.jpeg'];
sharp.cache(false); sharp.concurrency(1);
for (const kernel of ['linear','cubic'] as const) for (const f of files) {
  const bytes = readFileSync(f);
  const img = await decodeImage(bytes);
  const rng = new Random(1);
  let tot = 0, n = 0, worst = 0;
  const rows: string[] = [];
  for (let i = 0; i < 30; i++) {
    const box = sampleResizedCropBox(img, rng);
    const g = { source: img, crop: box, resize: { width: 224, height: 224 }, interpolation: kernel === 'linear' ? 'bilinear' : 'bicubic', post: null, flip: false } as const;
    const ref = executeGeometry(img, g as any);
    const { data } = await sharp(bytes).extract(box).resize(224, 224, { fit: 'fill', kernel, fastShrinkOnLoad: false }).raw().toBuffer({ resolveWithObject: true });
    let s = 0; for (let k = 0; k < data.length; k++) s += Math.abs(data[k] - ref.data[k]);
    const mad = s / data.length / 255; tot += mad; n++; worst = Math.max(worst, mad);
    rows.push(`${box.width}x${box.height}:${mad.toFixed(4)}`);
  }
  console.log(kernel, f.split('/').pop(), 'mean', (tot/n).toFixed(4), 'worst', worst.toFixed(4)); console.log(rows.join(' '));
}
