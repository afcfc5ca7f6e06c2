import { readFileSync } from 'node:fs';
import { loadNativeImage, nativeDecode } from '../src/data/native-image.js';
const n = loadNativeImage(); if (!('addon' in n)) throw 1;
const path = process.argv[2];
const bytes = readFileSync(path);
const [W, H] = [Number(process.argv[3]), Number(process.argv[4])];
const req = (l: number, t: number, w: number, h: number) => ({ scale: 1 as const, decoded: { width: W, height: H }, box: { x0: l, y0: t, x1: l + w, y1: t + h }, size: { width: w, height: h }, window: { left: 0, top: 0, width: w, height: h }, interpolation: 'bilinear' as const });
const whole = new Uint8Array(W * H * 3);
await nativeDecode(n.addon, bytes, req(0, 0, W, H), { out: whole, offset: 0 });
let bad = 0;
for (let r = 0; r < 300; r++) {
  const l = Math.floor(Math.random() * W), t = Math.floor(Math.random() * H);
  const w = 1 + Math.floor(Math.random() * (W - l)), h = 1 + Math.floor(Math.random() * (H - t));
  const out = new Uint8Array(w * h * 3);
  await nativeDecode(n.addon, bytes, req(l, t, w, h), { out, offset: 0 });
  let d = 0, at = '';
  for (let y = 0; y < h && !d; y++) for (let x = 0; x < w * 3; x++) { const e = Math.abs(out[y * w * 3 + x] - whole[((t + y) * W + l) * 3 + x]); if (e > d) { d = e; at = `${Math.floor(x / 3)},${y}`; } }
  if (d) { bad++; if (bad < 8) console.log('bad', l, t, w, h, 'max', d, 'at', at); }
}
console.log('bad', bad, 'of 300');
