import { writeFileSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { loadNativeImage, nativeDecode } from '/work/wt11/src/data/native-image.ts';
import { texture } from '/work/wt11/test/data-fixtures.ts';
const n = loadNativeImage();
if (!('addon' in n)) throw new Error(n.reason);
const out: any[] = [];
let i = 0;
for (const [w, h, sub, grey, prog] of [[500, 375, '4:2:0', false, false], [333, 257, '4:2:0', false, true], [97, 61, '4:4:4', false, false], [641, 479, '4:2:0', true, false], [1001, 703, '4:2:0', false, false]] as const) {
  let img = sharp(texture(w, h, 5 + i), { raw: { width: w, height: h, channels: 3 } });
  if (grey) img = img.greyscale();
  const bytes = await img.jpeg({ quality: 90, chromaSubsampling: sub, progressive: prog }).toBuffer();
  const path = `/tmp/h11/${i}.jpg`;
  writeFileSync(path, bytes);
  // whole
  const whole = new Uint8Array(w * h * 3);
  await nativeDecode(n.addon, bytes, { scale: 1, decoded: { width: w, height: h }, box: { x0: 0, y0: 0, x1: w, y1: h }, size: { width: w, height: h }, window: { left: 0, top: 0, width: w, height: h }, interpolation: 'bilinear' }, { out: whole, offset: 0 });
  writeFileSync(`/tmp/h11/${i}.whole`, whole);
  // regions
  const regions = [];
  for (let r = 0; r < 20; r++) {
    let l = Math.floor(Math.random() * (w - 1)), t = Math.floor(Math.random() * (h - 1));
    let rw = 1 + Math.floor(Math.random() * (w - l)), rh = 1 + Math.floor(Math.random() * (h - t));
    if (r < 7) { l = 0; rw = w; } else if (r < 14) { t = 0; }
    const buf = new Uint8Array(rw * rh * 3);
    await nativeDecode(n.addon, bytes, { scale: 1, decoded: { width: w, height: h }, box: { x0: l, y0: t, x1: l + rw, y1: t + rh }, size: { width: rw, height: rh }, window: { left: 0, top: 0, width: rw, height: rh }, interpolation: 'bilinear' }, { out: buf, offset: 0 });
    writeFileSync(`/tmp/h11/${i}.r${r}`, buf);
    regions.push([l, t, rw, rh]);
  }
  out.push({ path, w, h, regions });
  i++;
}
writeFileSync('/tmp/h11/cases.json', JSON.stringify(out));
