import { readFileSync } from 'node:fs';
import { buildTrainTransform } from '../src/data/build-transforms.js';
import { IMAGENET_PREPROCESS } from '../src/data/preprocess.js';
import { Random } from '../src/random.js';
const path = '/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html/embedded-book/assets/f3.jpg';
const bytes = readFileSync(path);
const spec = { ...IMAGENET_PREPROCESS, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number], interpolation: 'bilinear' as const };
const exact = buildTrainTransform(spec, { exactAugment: true });
const def = buildTrainTransform(spec);
for (let c = 0; c < 5; c++) {
  const a = await exact.tensor(bytes, Random.derive(11, c));
  const b = await def.tensor(bytes, Random.derive(11, c));
  let n = 0, m = 0, first = -1;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]); if (d > 0) { n++; if (first < 0) first = i; } m = Math.max(m, d); }
  console.log(c, 'diffs', n, 'max', m * 255, 'first', first, first >= 0 ? [Math.floor(first / 50176), Math.floor((first % 50176) / 224), first % 224] : '');
}
