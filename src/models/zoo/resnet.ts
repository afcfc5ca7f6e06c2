import type { ModelSpec } from '../model-spec.js';
import { IMAGENET_PREPROCESS_MODEL } from '../imagenet-preprocess.js';
import { RESNET_CONFIGS, resnetFeatures } from '../resnet.js';

const STAGES = ['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4', 'fc'];

function resnetSpec(name: keyof typeof RESNET_CONFIGS, featureDim: number, url: string, sha256: string): ModelSpec {
  return {
    name,
    description: `${name} (torchvision), ImageNet-1k`,
    features: (b, images) => resnetFeatures(b, images, RESNET_CONFIGS[name]),
    featureDim,
    head: { name: 'fc', dropout: 0 },
    stages: STAGES,
    preprocess: IMAGENET_PREPROCESS_MODEL,
    bnMomentum: 0.1,
    weights: [{ id: 'imagenet1k_v1', url, sha256, license: 'BSD-3-Clause (torchvision)', format: 'pth', numClasses: 1000 }],
  };
}

// torchvision's file names carry the first 8 hex digits of the sha256 (torch.hub checks that prefix).
export const resnet18 = resnetSpec('resnet18', 512, 'https://download.pytorch.org/models/resnet18-f37072fd.pth', 'f37072fd');
export const resnet34 = resnetSpec('resnet34', 512, 'https://download.pytorch.org/models/resnet34-b627a593.pth', 'b627a593');
export const resnet50 = resnetSpec('resnet50', 2048, 'https://download.pytorch.org/models/resnet50-0676ba61.pth', '0676ba61');
