import { buildFixtureDataset } from '/work/wt11/test/data-fixtures.ts';
import { scanImageFolder } from '/work/wt11/src/data/image-folder.ts';
import { createLoader } from '/work/wt11/src/data/loader.ts';
import { buildTrainTransform } from '/work/wt11/src/data/build-transforms.ts';
import { IMAGENET_PREPROCESS } from '/work/wt11/src/data/preprocess.ts';
const root = await buildFixtureDataset(undefined, { largeSide: [3000, 2400] });
const ds = await scanImageFolder(root);
const loader = createLoader(ds.train, buildTrainTransform({ ...IMAGENET_PREPROCESS, inputSize: 32 }), { batchSize: 8, shuffle: true, seed: 3, onSkip: (s) => console.log(s.path, s.reason, s.error.code) });
for await (const b of loader) {}
