import { train } from '/work/wt11/src/train/train.ts';
import { readFeatureCache } from '/work/wt11/src/train/feature-cache.ts';
const r = await train('/tmp/headstart-drill-2000/data', { model: 'mobilenet_v2_offline', mode: 'features', epochs: 1, inputSize: 64, out: '/tmp/drill-dbg/run', cacheDir: '/tmp/drill-dbg/cache', batchSize: 64 }).catch((e) => { console.log('ERR', e.message); return null; });
import { readdirSync } from 'node:fs';
for (const f of readdirSync('/tmp/drill-dbg/cache')) { const x = readFeatureCache('/tmp/drill-dbg/cache/' + f); console.log(f, 'set' in x ? [x.set.dim, x.set.train.labels.length, x.set.train.views[0].length] : x); }
