import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TfjsLayersModel } from '../weights/tfjs.js';
import { findNsfwjsPackageDir, loadNsfwjsMobileNetV2, NSFWJS_MOBILENET_V2, parseNsfwjsMobileNetV2 } from '../weights/nsfwjs-mobilenet-v2.js';
import { buildKerasLayers, kerasParams } from './keras-import.js';
import type { ModelSpec } from './model-spec.js';

/**
 * The offline pretrained backbone: the Keras MobileNetV2 bundled in npm nsfwjs@4.4.0
 * (ImageNet-initialised, then fine-tuned by nsfwjs), cut at its 1280-d pooled features.
 * It needs no network, so it is the embedded default of the README's first command.
 * Input: RGB scaled to [0, 1] (no mean/std), 224x224.
 * No `bnMomentum`: Keras trained it with momentum 0.999 (torch's 0.001), so when fine-tuned
 * its running statistics adapt at the recipe's rate (src/models/bn-momentum.ts).
 * Its PyTorch twin, for parity tests and bench:e2e, is scripts/mobilenet_v2_offline_twin.py.
 */

let topology: TfjsLayersModel | undefined;

/** The Keras layers, read synchronously once (graph building is synchronous). */
function nsfwjsModel(): TfjsLayersModel {
  if (!topology) {
    const dir = findNsfwjsPackageDir();
    topology = parseNsfwjsMobileNetV2(readFileSync(join(dir, NSFWJS_MOBILENET_V2.modelFile), 'utf8'), readFileSync(join(dir, NSFWJS_MOBILENET_V2.shardFile), 'utf8'));
  }
  return topology;
}

const until = NSFWJS_MOBILENET_V2.featureLayer;
/** The last activation before nsfwjs's AveragePooling2D(7) + Flatten. */
const lastActivation = 'out_relu';

export const mobilenetV2Offline: ModelSpec = {
  name: 'mobilenet_v2_offline',
  description: 'MobileNetV2 (Keras) bundled in npm nsfwjs@4.4.0: offline pretrained backbone, 1280-d features',
  // Global average pooling over out_relu: the same 1280 values as nsfwjs's AveragePooling2D(7)
  // at 224x224 (a 7x7 map), and defined at any --input-size.
  features: (b, images) => b.g.op('Flatten', [b.g.op('GlobalAveragePool', [buildKerasLayers(b, nsfwjsModel().layers, images, { until: lastActivation })])], { axis: 1 }),
  featureDim: NSFWJS_MOBILENET_V2.featureDim,
  head: { name: 'fc', dropout: 0 },
  stages: [
    'Conv1',
    'bn_Conv1',
    'expanded_conv',
    'block_1',
    'block_2',
    'block_3',
    'block_4',
    'block_5',
    'block_6',
    'block_7',
    'block_8',
    'block_9',
    'block_10',
    'block_11',
    'block_12',
    'block_13',
    'block_14',
    'block_15',
    'block_16',
    'Conv_1',
    'fc',
  ],
  preprocess: { inputSize: 224, resizeSize: 224, mean: [0, 0, 0], std: [1, 1, 1], interpolation: 'bilinear' },
  weights: [],
  builtinWeights: {
    id: 'nsfwjs-4.4.0',
    description: 'MobileNetV2 weights bundled in npm nsfwjs@4.4.0 (uint8-quantised, sha256-checked)',
    license: 'MIT',
    load: async () => {
      const model = await loadNsfwjsMobileNetV2();
      return kerasParams(model.layers, model.weights, { until });
    },
  },
};
