import { makeDivisible } from './mobilenet-v2.js';
import type { NetBuilder } from './net-builder.js';
import { IMAGENET_PREPROCESS_MODEL } from './imagenet-preprocess.js';
import type { ModelSpec } from './model-spec.js';

/**
 * MobileNetV3-Large (Howard et al. 2019) with torchvision's topology and parameter names:
 * `features.0` stem, `features.1..15` inverted residual blocks (`.block.<i>`, squeeze-and-
 * excitation as `.fc1`/`.fc2`), `features.16` the 1x1 conv to 960 channels. torchvision's
 * classifier is Linear(960, 1280) + Hardswish + Dropout + Linear(1280, classes); the first
 * Linear (`classifier.0`) is pre-logits, so it belongs to the features here (1280-d) and only
 * `classifier.3` is the replaceable head. BatchNorm uses eps 1e-3 and momentum 0.01.
 */

// The momentum (0.01) is the spec's `bnMomentum` (below), applied by the builder.
const BN = { eps: 1e-3 };

/** [input, kernel, expanded, output, squeeze-excite, hard-swish, stride] (dilation 1), as torchvision. */
const MOBILENET_V3_LARGE_SETTING: readonly (readonly [number, number, number, number, boolean, boolean, number])[] = [
  [16, 3, 16, 16, false, false, 1],
  [16, 3, 64, 24, false, false, 2],
  [24, 3, 72, 24, false, false, 1],
  [24, 5, 72, 40, true, false, 2],
  [40, 5, 120, 40, true, false, 1],
  [40, 5, 120, 40, true, false, 1],
  [40, 3, 240, 80, false, true, 2],
  [80, 3, 200, 80, false, true, 1],
  [80, 3, 184, 80, false, true, 1],
  [80, 3, 184, 80, false, true, 1],
  [80, 3, 480, 112, true, true, 1],
  [112, 3, 672, 112, true, true, 1],
  [112, 5, 672, 160, true, true, 2],
  [160, 5, 960, 160, true, true, 1],
  [160, 5, 960, 160, true, true, 1],
];

function hardswish(b: NetBuilder, x: string): string {
  return b.g.op('HardSwish', [x]);
}

/** torch's Hardsigmoid: relu6(x + 3) / 6. */
function hardsigmoid(b: NetBuilder, x: string): string {
  return b.g.op('HardSigmoid', [x], { alpha: 1 / 6, beta: 0.5 });
}

type Activation = 'relu' | 'hardswish' | 'none';

function activate(b: NetBuilder, x: string, act: Activation): string {
  if (act === 'relu') return b.relu(x);
  if (act === 'hardswish') return hardswish(b, x);
  return x;
}

/** Conv2dNormActivation: `<name>.0` conv (no bias), `<name>.1` BatchNorm, then the activation. */
function convBnAct(b: NetBuilder, x: string, name: string, out: number, kernel: number, act: Activation, stride = 1, groups = 1): string {
  const y = b.conv2d(x, `${name}.0`, out, { kernel, stride, padding: (kernel - 1) >> 1, groups });
  return activate(b, b.batchNorm2d(y, `${name}.1`, BN), act);
}

/** torchvision.ops.SqueezeExcitation with ReLU inside and Hardsigmoid as the gate. */
function squeezeExcite(b: NetBuilder, x: string, name: string, squeeze: number): string {
  const c = b.g.shape(x)[1];
  let s = b.g.op('GlobalAveragePool', [x]);
  s = b.relu(b.conv2d(s, `${name}.fc1`, squeeze, { kernel: 1, bias: true }));
  s = hardsigmoid(b, b.conv2d(s, `${name}.fc2`, c, { kernel: 1, bias: true }));
  return b.g.op('Mul', [s, x]);
}

function invertedResidual(b: NetBuilder, x: string, name: string, cfg: (typeof MOBILENET_V3_LARGE_SETTING)[number]): string {
  const [inp, kernel, expanded, out, se, hs, stride] = cfg;
  const act: Activation = hs ? 'hardswish' : 'relu';
  let h = x;
  let i = 0;
  if (expanded !== inp) h = convBnAct(b, h, `${name}.block.${i++}`, expanded, 1, act);
  h = convBnAct(b, h, `${name}.block.${i++}`, expanded, kernel, act, stride, expanded);
  if (se) h = squeezeExcite(b, h, `${name}.block.${i++}`, makeDivisible(Math.floor(expanded / 4), 8));
  h = convBnAct(b, h, `${name}.block.${i}`, out, 1, 'none');
  return stride === 1 && inp === out ? b.g.op('Add', [h, x]) : h;
}

/** Pre-logits 1280-d features (through `classifier.0` + Hardswish); the head is `classifier.3`. */
function mobilenetV3LargeFeatures(b: NetBuilder, images: string): string {
  let x = convBnAct(b, images, 'features.0', 16, 3, 'hardswish', 2);
  MOBILENET_V3_LARGE_SETTING.forEach((cfg, i) => {
    x = invertedResidual(b, x, `features.${i + 1}`, cfg);
  });
  const last = MOBILENET_V3_LARGE_SETTING[MOBILENET_V3_LARGE_SETTING.length - 1][3];
  x = convBnAct(b, x, `features.${MOBILENET_V3_LARGE_SETTING.length + 1}`, 6 * last, 1, 'hardswish');
  x = b.g.op('Flatten', [b.g.op('GlobalAveragePool', [x])], { axis: 1 });
  return hardswish(b, b.linear(x, 'classifier.0', 1280));
}

// Each `features.<i>` module is a stage (a block); fine-tuning the last k unfreezes k blocks.
const featureStages = (count: number) => Array.from({ length: count }, (_, i) => `features.${i}`);

// torchvision's file names carry the first 8 hex digits of the file's sha256 (torch.hub
// checks that prefix); the full digests are not published in torchvision's source.
export const mobilenetV3Large: ModelSpec = {
  name: 'mobilenet_v3_large',
  description: 'MobileNetV3-Large (torchvision), ImageNet-1k',
  features: mobilenetV3LargeFeatures,
  featureDim: 1280,
  head: { name: 'classifier.3', dropout: 0.2 },
  // torchvision builds MobileNetV3 with BatchNorm2d(eps=0.001, momentum=0.01).
  bnMomentum: 0.01,
  // classifier.0 (Linear 960->1280) is the last stage of the features.
  stages: [...featureStages(MOBILENET_V3_LARGE_SETTING.length + 2), 'classifier.0', 'classifier.3'],
  preprocess: IMAGENET_PREPROCESS_MODEL,
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
