import type { ModelSpec } from '../src/models/model-spec.js';
import { IMAGENET_PREPROCESS_MODEL } from '../src/models/imagenet-preprocess.js';

/** The network of scripts/engine_parity_reference.py, on headstart's builder. */
export const smallCnn: ModelSpec = {
  name: 'small_cnn',
  description: 'test network',
  features: (b, x) => {
    let h = b.relu(b.batchNorm2d(b.conv2d(x, 'conv1', 8, { kernel: 3, padding: 1 }), 'bn1'));
    h = b.g.op('MaxPool', [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
    const y = b.batchNorm2d(b.conv2d(h, 'conv2', 8, { kernel: 3, padding: 1, bias: true }), 'bn2');
    h = b.relu(b.g.op('Add', [h, y]));
    return b.g.op('Flatten', [b.g.op('GlobalAveragePool', [h])], { axis: 1 });
  },
  featureDim: 8,
  head: { name: 'fc', dropout: 0 },
  stages: ['conv1', 'bn1', 'conv2', 'bn2', 'fc'],
  preprocess: { ...IMAGENET_PREPROCESS_MODEL, inputSize: 8 },
  weights: [],
};
