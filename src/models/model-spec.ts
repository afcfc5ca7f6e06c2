import type { NamedTensors } from '../tensor.js';
import type { NetBuilder } from './net-builder.js';

/** Preprocessing a network expects (mirrors src/data's PreprocessSpec). */
export interface ModelPreprocess {
  inputSize: number;
  resizeSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  interpolation: 'bilinear' | 'bicubic';
}

export interface WeightSource {
  /** Short id, e.g. 'imagenet1k_v1'. */
  id: string;
  url: string;
  sha256: string;
  license: string;
  format: 'pth' | 'safetensors' | 'onnx' | 'tfjs';
  /** Class count of the checkpoint's own classifier. */
  numClasses: number;
}

/**
 * Everything shared code knows about an architecture. Model facts are data here; no code
 * outside src/models branches on a model's name.
 */
export interface ModelSpec {
  name: string;
  description: string;
  /** Pooled features [N, featureDim] from a normalised NCHW image batch. */
  features: (b: NetBuilder, images: string) => string;
  featureDim: number;
  /** The replaceable classifier: Linear(featureDim, numClasses) under this name, after optional dropout. */
  head: { name: string; dropout: number };
  /** Parameter-name prefixes of the stages, input to output (for "fine-tune the last k stages"). */
  stages: string[];
  preprocess: ModelPreprocess;
  /**
   * BatchNorm momentum (torch's convention) the network was trained with, kept when it is
   * fine-tuned; absent for a model imported from another convention (a Keras network), whose
   * running statistics then adapt at the recipe's rate (src/models/bn-momentum.ts).
   */
  bnMomentum?: number;
  /**
   * Stochastic depth's rate in training (torchvision's `stochastic_depth_prob`: EfficientNet's 0.2): the
   * residual branches the architecture marks (NetBuilder.stochasticDepth) are dropped per sample with a
   * probability rising with depth to nearly this rate. Absent: none. The --stochastic-depth option overrides it.
   */
  stochasticDepth?: number;
  /** Downloadable weight files (torchvision's, ...), first one the default. */
  weights: WeightSource[];
  /**
   * Pretrained weights that ship with headstart's dependencies (no file, no network):
   * when present, they are the default instead of `weights`.
   */
  builtinWeights?: BuiltinWeights;
  /**
   * Preprocessing values that were assumed rather than known (an ONNX file without
   * preprocessing metadata): one sentence each, saying which value and why; runs show them.
   */
  assumedPreprocess?: readonly string[];
}

export interface BuiltinWeights {
  id: string;
  description: string;
  license: string;
  /** Parameter values under this spec's parameter names (its own classifier excluded). */
  load: () => Promise<NamedTensors>;
}
