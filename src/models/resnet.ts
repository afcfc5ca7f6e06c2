import type { NetBuilder } from './net-builder.js';
import type { ModelSpec } from './model-spec.js';
import { IMAGENET_PREPROCESS_MODEL } from './imagenet-preprocess.js';

/** ResNet (He et al. 2015) with torchvision's topology and parameter names. */

export interface ResNetConfig {
  block: 'basic' | 'bottleneck';
  layers: [number, number, number, number];
}

const RESNET_CONFIGS = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
} as const satisfies Record<string, ResNetConfig>;

function basicBlock(b: NetBuilder, x: string, name: string, planes: number, stride: number): string {
  const inPlanes = b.g.shape(x)[1];
  let out = b.conv2d(x, `${name}.conv1`, planes, { kernel: 3, stride, padding: 1 });
  out = b.relu(b.batchNorm2d(out, `${name}.bn1`));
  out = b.conv2d(out, `${name}.conv2`, planes, { kernel: 3, padding: 1 });
  out = b.batchNorm2d(out, `${name}.bn2`);
  const identity = stride !== 1 || inPlanes !== planes ? downsample(b, x, name, planes, stride) : x;
  return b.relu(b.g.op('Add', [out, identity]));
}

function bottleneck(b: NetBuilder, x: string, name: string, planes: number, stride: number): string {
  const inPlanes = b.g.shape(x)[1];
  const width = planes;
  let out = b.relu(b.batchNorm2d(b.conv2d(x, `${name}.conv1`, width, { kernel: 1 }), `${name}.bn1`));
  out = b.relu(b.batchNorm2d(b.conv2d(out, `${name}.conv2`, width, { kernel: 3, stride, padding: 1 }), `${name}.bn2`));
  out = b.batchNorm2d(b.conv2d(out, `${name}.conv3`, planes * 4, { kernel: 1 }), `${name}.bn3`);
  const identity = stride !== 1 || inPlanes !== planes * 4 ? downsample(b, x, name, planes * 4, stride) : x;
  return b.relu(b.g.op('Add', [out, identity]));
}

function downsample(b: NetBuilder, x: string, name: string, planes: number, stride: number): string {
  return b.batchNorm2d(b.conv2d(x, `${name}.downsample.0`, planes, { kernel: 1, stride }), `${name}.downsample.1`);
}

/** Returns the 512- (or 2048-) d pooled features; the caller adds the classifier `fc`. */
function resnetFeatures(b: NetBuilder, images: string, config: ResNetConfig): string {
  let x = b.conv2d(images, 'conv1', 64, { kernel: 7, stride: 2, padding: 3 });
  x = b.relu(b.batchNorm2d(x, 'bn1'));
  x = b.g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  const block = config.block === 'basic' ? basicBlock : bottleneck;
  [64, 128, 256, 512].forEach((planes, stage) => {
    for (let i = 0; i < config.layers[stage]; i++) {
      x = block(b, x, `layer${stage + 1}.${i}`, planes, i === 0 && stage > 0 ? 2 : 1);
    }
  });
  return b.g.op('Flatten', [b.g.op('GlobalAveragePool', [x])], { axis: 1 });
}

const STAGES = ['conv1', 'bn1', 'layer1', 'layer2', 'layer3', 'layer4', 'fc'];

function resnetSpec(name: keyof typeof RESNET_CONFIGS, featureDim: number, url: string, sha256: string): ModelSpec {
  return {
    name,
    description: `${name} (torchvision), ImageNet-1k`,
    features: (b, images) => resnetFeatures(b, images, RESNET_CONFIGS[name]),
    featureDim,
    head: { name: 'fc', dropout: 0 },
    bnMomentum: 0.1,
    stages: STAGES,
    preprocess: IMAGENET_PREPROCESS_MODEL,
    weights: [{ id: 'imagenet1k_v1', url, sha256, license: 'BSD-3-Clause (torchvision)', format: 'pth', numClasses: 1000 }],
  };
}

// torchvision's file names carry the first 8 hex digits of the sha256 (torch.hub checks that prefix).
export const resnet18 = resnetSpec('resnet18', 512, 'https://download.pytorch.org/models/resnet18-f37072fd.pth', 'f37072fd');
export const resnet34 = resnetSpec('resnet34', 512, 'https://download.pytorch.org/models/resnet34-b627a593.pth', 'b627a593');
export const resnet50 = resnetSpec('resnet50', 2048, 'https://download.pytorch.org/models/resnet50-0676ba61.pth', '0676ba61');
