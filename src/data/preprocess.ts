/**
 * What a network expects of its input images: crop size, the shorter side the eval
 * transform resizes to, the normalisation and the interpolation. The train and eval
 * pipelines are both built from this one record (see build-transforms.ts), so training and
 * inference cannot drift apart; it is saved with every model.
 *
 * A network that wants input scaled to [0, 1] without normalisation uses mean [0,0,0] and
 * std [1,1,1].
 */
import { z } from 'zod';

const rgb = z.tuple([z.number(), z.number(), z.number()]);

export const PreprocessSpecSchema = z.strictObject({
  /** Side of the square crop the network sees (224 for the ImageNet models). */
  inputSize: z.number().int().positive(),
  /** Eval: the shorter side is resized to this before the centre crop (256 for 224 crops). */
  resizeSize: z.number().int().positive(),
  mean: rgb,
  std: rgb.refine((s) => s.every((v) => v > 0), { message: 'std values must be > 0' }),
  interpolation: z.enum(['bilinear', 'bicubic']),
});

export type PreprocessSpec = z.infer<typeof PreprocessSpecSchema>;
export type Interpolation = PreprocessSpec['interpolation'];

/** torchvision's ImageNet recipe: RandomResizedCrop(224) / Resize(256) + CenterCrop(224), ImageNet mean and std. */
export const IMAGENET_PREPROCESS: PreprocessSpec = Object.freeze({
  inputSize: 224,
  resizeSize: 256,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  interpolation: 'bilinear',
}) as PreprocessSpec;
