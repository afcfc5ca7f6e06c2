import type { ModelPreprocess } from './model-spec.js';

/** torchvision's ImageNet evaluation transform: Resize(256), CenterCrop(224), ImageNet mean/std. */
export const IMAGENET_PREPROCESS_MODEL: ModelPreprocess = {
  inputSize: 224,
  resizeSize: 256,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  interpolation: 'bilinear',
};
