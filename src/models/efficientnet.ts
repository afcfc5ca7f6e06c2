import { silu } from '../onnx/ops/index.js';
import { makeDivisible } from './mobilenet-v2.js';
import type { NetBuilder } from './net-builder.js';
import { IMAGENET_PREPROCESS_MODEL } from './imagenet-preprocess.js';
import type { ModelSpec } from './model-spec.js';

/**
 * EfficientNet-B0 (Tan & Le 2019) with torchvision's topology and parameter names:
 * `features.0` stem, `features.1..7` stages of MBConv blocks (`features.<s>.<k>.block.<i>`,
 * squeeze-and-excitation as `.fc1`/`.fc2`), `features.8` the 1x1 conv to 1280 channels;
 * `classifier.1` is the head (after dropout 0.2). BatchNorm: torch defaults (eps 1e-5,
 * momentum 0.1) for B0 in torchvision 0.14.
 *
 * Stochastic depth: as torchvision, each residual branch (block k of the 16, counted over all
 * blocks) is dropped per sample with probability `stochasticDepth` * k / 16 in training (row mode,
 * the kept rows scaled by 1/(1 - p)): the spec's 0.2, or the --stochastic-depth option. The masks are
 * graph inputs drawn on the host from the step's keyed source (NetBuilder.stochasticDepth); identity
 * in eval mode, so inference graphs and model.onnx have none.
 */

/** [expand ratio, kernel, stride, input, output, layers], as torchvision (width 1.0, depth 1.0). */
const EFFICIENTNET_B0_SETTING: readonly (readonly [number, number, number, number, number, number])[] = [
  [1, 3, 1, 32, 16, 1],
  [6, 3, 2, 16, 24, 2],
  [6, 5, 2, 24, 40, 2],
  [6, 3, 2, 40, 80, 3],
  [6, 5, 1, 80, 112, 3],
  [6, 5, 2, 112, 192, 4],
  [6, 3, 1, 192, 320, 1],
];

/** Conv2dNormActivation: `<name>.0` conv (no bias), `<name>.1` BatchNorm, then SiLU (or none). */
function convBnAct(b: NetBuilder, x: string, name: string, out: number, kernel: number, act: boolean, stride = 1, groups = 1): string {
  const y = b.batchNorm2d(b.conv2d(x, `${name}.0`, out, { kernel, stride, padding: (kernel - 1) >> 1, groups }), `${name}.1`);
  return act ? silu(b.g, y) : y;
}

/** torchvision.ops.SqueezeExcitation with SiLU inside and Sigmoid as the gate. */
function squeezeExcite(b: NetBuilder, x: string, name: string, squeeze: number): string {
  const c = b.g.shape(x)[1];
  let s = b.g.op('GlobalAveragePool', [x]);
  s = silu(b.g, b.conv2d(s, `${name}.fc1`, squeeze, { kernel: 1, bias: true }));
  s = b.g.op('Sigmoid', [b.conv2d(s, `${name}.fc2`, c, { kernel: 1, bias: true })]);
  return b.g.op('Mul', [s, x]);
}

/** `depth`: the block's index over all blocks / their count (its stochastic-depth share). */
function mbConv(b: NetBuilder, x: string, name: string, expandRatio: number, kernel: number, stride: number, out: number, depth: number): string {
  const inp = b.g.shape(x)[1];
  const expanded = makeDivisible(inp * expandRatio, 8);
  let h = x;
  let i = 0;
  if (expanded !== inp) h = convBnAct(b, h, `${name}.block.${i++}`, expanded, 1, true);
  h = convBnAct(b, h, `${name}.block.${i++}`, expanded, kernel, true, stride, expanded);
  h = squeezeExcite(b, h, `${name}.block.${i++}`, Math.max(1, Math.floor(inp / 4)));
  h = convBnAct(b, h, `${name}.block.${i}`, out, 1, false);
  return stride === 1 && inp === out ? b.g.op('Add', [b.stochasticDepth(h, name, depth), x]) : h;
}

/** Pooled 1280-d features; the caller adds the head `classifier.1`. */
function efficientnetB0Features(b: NetBuilder, images: string): string {
  let x = convBnAct(b, images, 'features.0', makeDivisible(32, 8), 3, true, 2);
  const blocks = EFFICIENTNET_B0_SETTING.reduce((sum, setting) => sum + setting[5], 0);
  let block = 0;
  EFFICIENTNET_B0_SETTING.forEach(([t, k, s, , out, n], stage) => {
    for (let i = 0; i < n; i++) x = mbConv(b, x, `features.${stage + 1}.${i}`, t, k, i === 0 ? s : 1, makeDivisible(out, 8), block++ / blocks);
  });
  x = convBnAct(b, x, `features.${EFFICIENTNET_B0_SETTING.length + 1}`, 4 * 320, 1, true);
  return b.g.op('Flatten', [b.g.op('GlobalAveragePool', [x])], { axis: 1 });
}

export const efficientnetB0: ModelSpec = {
  name: 'efficientnet_b0',
  description: 'EfficientNet-B0 (torchvision), ImageNet-1k',
  features: efficientnetB0Features,
  featureDim: 1280,
  head: { name: 'classifier.1', dropout: 0.2 },
  bnMomentum: 0.1,
  // torchvision's efficientnet_b0(stochastic_depth_prob=0.2).
  stochasticDepth: 0.2,
  // features.0 stem, features.1..7 the seven MBConv stages, features.8 the last 1x1 conv.
  stages: [...Array.from({ length: EFFICIENTNET_B0_SETTING.length + 2 }, (_, i) => `features.${i}`), 'classifier.1'],
  // torchvision's EfficientNet_B0_Weights transform: Resize(256, bicubic), CenterCrop(224).
  preprocess: { ...IMAGENET_PREPROCESS_MODEL, interpolation: 'bicubic' },
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
