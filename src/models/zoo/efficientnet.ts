import { EFFICIENTNET_B0_SETTING, efficientnetB0Features } from '../efficientnet.js';
import { IMAGENET_PREPROCESS_MODEL } from '../imagenet-preprocess.js';
import type { ModelSpec } from '../model-spec.js';

export const efficientnetB0: ModelSpec = {
  name: 'efficientnet_b0',
  description: 'EfficientNet-B0 (torchvision), ImageNet-1k',
  features: efficientnetB0Features,
  featureDim: 1280,
  head: { name: 'classifier.1', dropout: 0.2 },
  // features.0 stem, features.1..7 the seven MBConv stages, features.8 the last 1x1 conv.
  stages: [...Array.from({ length: EFFICIENTNET_B0_SETTING.length + 2 }, (_, i) => `features.${i}`), 'classifier.1'],
  // torchvision's EfficientNet_B0_Weights transform: Resize(256, bicubic), CenterCrop(224).
  preprocess: { ...IMAGENET_PREPROCESS_MODEL, interpolation: 'bicubic' },
  bnMomentum: 0.1,
  weights: [
    {
      id: 'imagenet1k_v1',
      // Ported by torchvision from timm (rwightman); the name carries the sha256's first 8 hex digits.
      url: 'https://download.pytorch.org/models/efficientnet_b0_rwightman-3dd342df.pth',
      sha256: '3dd342df',
      license: 'Apache-2.0 (timm weights, distributed by torchvision)',
      format: 'pth',
      numClasses: 1000,
    },
  ],
};
