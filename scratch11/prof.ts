import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadNativeImage, nativeDecode } from '../src/data/native-image.js';
import { nativeRequest } from '../src/data/decode-native.js';
import { resizedSize } from '../src/data/transforms/resize.js';
import { normalizationTable } from '../src/data/transforms/normalize.js';
const n = loadNativeImage(); if (!('addon' in n)) throw 1;
const dir = '/tmp/headstart-bench-data-500x375';
const bytes = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, 200).map((f) => readFileSync(join(dir, f)));
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const W = 500, H = 375;
const table = normalizationTable([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
const out = new Float32Array(3 * 224 * 224);
const whole = new Uint8Array(W * H * 3);
const rs = { width: 341, height: 256 };
const evalReq = { scale: 1 as const, decoded: { width: W, height: H }, box: { x0: 0, y0: 0, x1: W, y1: H }, size: rs, window: { left: 58, top: 16, width: 224, height: 224 }, interpolation: 'bilinear' as const };
const full = { scale: 1 as const, decoded: { width: W, height: H }, box: { x0: 0, y0: 0, x1: W, y1: H }, size: { width: W, height: H }, window: { left: 0, top: 0, width: W, height: H }, interpolation: 'bilinear' as const };
const region = { ...full, box: { x0: 84, y0: 22, x1: 414, y1: 353 }, size: { width: 330, height: 331 }, window: { left: 0, top: 0, width: 330, height: 331 } };
const cases: [string, () => void][] = [
  ['whole decode', () => { for (const b of bytes) n.addon.decode(b, p(full), whole, null); }],
  ['region decode', () => { for (const b of bytes) n.addon.decode(b, p(region), whole, null); }],
  ['h only', () => { for (const b of bytes) n.addon.decode(b, p({ ...full, size: { width: 341, height: 375 }, window: { left: 58, top: 22, width: 224, height: 331 } }), whole, null); }],
  ['v only', () => { for (const b of bytes) n.addon.decode(b, p({ ...full, size: { width: 500, height: 256 }, window: { left: 84, top: 16, width: 330, height: 224 } }), whole, null); }],
  ['eval', () => { for (const b of bytes) n.addon.decode(b, p(evalReq), out, table); }],
];
function p(r: any) { return Float64Array.of(r.scale, r.decoded.width, r.decoded.height, r.box.x0, r.box.y0, r.box.x1, r.box.y1, r.size.width, r.size.height, r.window.left, r.window.top, r.window.width, r.window.height, 0, 0, 0); }
for (let k = 0; k < 4; k++) console.log(cases.map(([name, f]) => { const c0 = cpu(); f(); return `${name} ${((cpu() - c0) / bytes.length).toFixed(3)}`; }).join(' | '));
