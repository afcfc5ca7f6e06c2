import type { NetBuilder } from './net-builder.js';
import { IMAGENET_PREPROCESS_MODEL } from './imagenet-preprocess.js';
import type { ModelSpec } from './model-spec.js';

/**
 * MobileNetV2 (Sandler et al. 2018) with torchvision's topology and parameter names:
 * `features.0` the stem, `features.1..17` inverted residual blocks (`.conv.<i>`),
 * `features.18` the 1x1 conv to 1280 channels; the classifier (`classifier.1`) is the head.
 */

/** torchvision's _make_divisible: round to a multiple of `divisor`, never more than 10% down. */
export function makeDivisible(v: number, divisor: number, minValue = divisor): number {
  let out = Math.max(minValue, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < 0.9 * v) out += divisor;
  return out;
}

/** [expand ratio t, output channels c, repeats n, first stride s], as torchvision. */
const MOBILENET_V2_SETTING: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function relu6(b: NetBuilder, x: string): string {
  return b.g.op('Clip', [x, b.g.scalar(0), b.g.scalar(6)]);
}

/** Conv2dNormActivation with ReLU6: `<name>.0` conv (no bias), `<name>.1` BatchNorm. */
function convBnRelu6(b: NetBuilder, x: string, name: string, out: number, kernel: number, stride = 1, groups = 1): string {
  const y = b.conv2d(x, `${name}.0`, out, { kernel, stride, padding: (kernel - 1) >> 1, groups });
  return relu6(b, b.batchNorm2d(y, `${name}.1`));
}

function invertedResidual(b: NetBuilder, x: string, name: string, out: number, stride: number, expand: number): string {
  const inp = b.g.shape(x)[1];
  const hidden = Math.round(inp * expand);
  let h = x;
  let i = 0;
  if (expand !== 1) h = convBnRelu6(b, h, `${name}.conv.${i++}`, hidden, 1);
  h = convBnRelu6(b, h, `${name}.conv.${i++}`, hidden, 3, stride, hidden);
  h = b.conv2d(h, `${name}.conv.${i++}`, out, { kernel: 1 });
  h = b.batchNorm2d(h, `${name}.conv.${i}`);
  return stride === 1 && inp === out ? b.g.op('Add', [x, h]) : h;
}

/** Pooled 1280-d features; the caller adds the head `classifier.1` (after dropout 0.2). */
function mobilenetV2Features(b: NetBuilder, images: string): string {
  let x = convBnRelu6(b, images, 'features.0', makeDivisible(32, 8), 3, 2);
  let index = 1;
  for (const [t, c, n, s] of MOBILENET_V2_SETTING) {
    for (let i = 0; i < n; i++) x = invertedResidual(b, x, `features.${index++}`, makeDivisible(c, 8), i === 0 ? s : 1, t);
  }
  x = convBnRelu6(b, x, `features.${index}`, 1280, 1);
  return b.g.op('Flatten', [b.g.op('GlobalAveragePool', [x])], { axis: 1 });
}

/** Number of `features.<i>` modules (stem, 17 blocks, last conv). */
const MOBILENET_V2_FEATURE_COUNT = 2 + MOBILENET_V2_SETTING.reduce((n, s) => n + s[2], 0);

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
  bnMomentum: 0.1,
  stages: [...featureStages(MOBILENET_V2_FEATURE_COUNT), 'classifier.1'],
  preprocess: IMAGENET_PREPROCESS_MODEL,
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
