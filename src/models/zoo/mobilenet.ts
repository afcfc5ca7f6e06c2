import { IMAGENET_PREPROCESS_MODEL } from '../imagenet-preprocess.js';
import type { ModelSpec } from '../model-spec.js';
import { MOBILENET_V2_FEATURE_COUNT, mobilenetV2Features } from '../mobilenet-v2.js';
import { MOBILENET_V3_LARGE_SETTING, mobilenetV3LargeFeatures } from '../mobilenet-v3.js';

// Each `features.<i>` module is a stage (a block); fine-tuning the last k unfreezes k blocks.
const featureStages = (count: number) => Array.from({ length: count }, (_, i) => `features.${i}`);

// torchvision's file names carry the first 8 hex digits of the file's sha256 (torch.hub
// checks that prefix); the full digests are not published in torchvision's source.
export const mobilenetV2: ModelSpec = {
  name: 'mobilenet_v2',
  description: 'MobileNetV2 (torchvision), ImageNet-1k',
  features: mobilenetV2Features,
  featureDim: 1280,
  head: { name: 'classifier.1', dropout: 0.2 },
  stages: [...featureStages(MOBILENET_V2_FEATURE_COUNT), 'classifier.1'],
  preprocess: IMAGENET_PREPROCESS_MODEL,
  bnMomentum: 0.1,
  weights: [
    {
      id: 'imagenet1k_v1',
      url: 'https://download.pytorch.org/models/mobilenet_v2-b0353104.pth',
      sha256: 'b0353104',
      license: 'BSD-3-Clause (torchvision)',
      format: 'pth',
      numClasses: 1000,
    },
  ],
};

export const mobilenetV3Large: ModelSpec = {
  name: 'mobilenet_v3_large',
  description: 'MobileNetV3-Large (torchvision), ImageNet-1k',
  features: mobilenetV3LargeFeatures,
  featureDim: 1280,
  head: { name: 'classifier.3', dropout: 0.2 },
  // classifier.0 (Linear 960->1280) is the last stage of the features.
  stages: [...featureStages(MOBILENET_V3_LARGE_SETTING.length + 2), 'classifier.0', 'classifier.3'],
  preprocess: IMAGENET_PREPROCESS_MODEL,
  // torchvision builds MobileNetV3 with BatchNorm2d(eps=0.001, momentum=0.01).
  bnMomentum: 0.01,
  weights: [
    {
      id: 'imagenet1k_v1',
      url: 'https://download.pytorch.org/models/mobilenet_v3_large-8738ca79.pth',
      sha256: '8738ca79',
      license: 'BSD-3-Clause (torchvision)',
      format: 'pth',
      numClasses: 1000,
    },
  ],
};
