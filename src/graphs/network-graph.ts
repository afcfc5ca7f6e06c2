import { appendBackward } from '../onnx/autodiff.js';
import { blockConvs, type BlockedConvOptions } from '../onnx/blocked-convs.js';
import { crossEntropyLoss } from '../onnx/cross-entropy.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import { serializeModel } from '../onnx/serialize.js';
import type { ModelSpec } from '../models/model-spec.js';
import { resolveBnMomentum } from '../models/bn-momentum.js';
import { NetBuilder } from '../models/net-builder.js';
import type { DropoutMaskInput, ParamDef } from '../models/net-builder.js';
import type { NamedTensors } from '../tensor.js';
import { appendCalibratedOutputs, type CalibratedOutputsOptions } from './calibrated-outputs.js';

export interface NetworkGraphOptions {
  numClasses: number;
  /** Batch size; -1 builds a dynamic batch (inference graphs only). */
  batch: number;
  /** Square input side (default: the spec's input size). */
  inputSize?: number;
}

export interface TrainingGraphOptions extends NetworkGraphOptions {
  trainable: (name: string) => boolean;
  /** Values of the frozen parameters, embedded as constants (faster: folded and pre-packed). */
  constants?: NamedTensors;
  freezeBn?: boolean;
  /** BatchNorm momentum (torch's convention); default: the policy's (the model's own, else torch's 0.1). */
  bnMomentum?: number;
  /**
   * Rewrite the trainable convolutions into ONNX Runtime's blocked layout (onnxruntime-node only;
   * src/engine/blocked-layout.ts decides, after a self-test). Default: plain ONNX ops.
   */
  blocked?: BlockedConvOptions;
  /** Stochastic depth's rate (--stochastic-depth; 0: none); default the spec's (EfficientNet's 0.2), else 0. */
  stochasticDepth?: number;
}

/** Input and output names of graphs headstart builds. */
export const IO = {
  images: 'images',
  targets: 'targets',
  loss: 'loss',
  logits: 'logits',
  features: 'features',
  grad: (p: string) => `grad:${p}`,
  running: (p: string) => `running:${p}`,
} as const;

export interface BuiltGraph {
  bytes: Uint8Array;
  params: ParamDef[];
  /** Parameters that are graph inputs, fed at every run. */
  fed: string[];
}

export interface TrainingGraph extends BuiltGraph {
  trainable: string[];
  /** Running-statistic parameters whose new values the graph returns. */
  running: string[];
  /** Dropout masks to feed at every step. */
  masks: DropoutMaskInput[];
  batch: number;
}

/** Builds the network's forward pass and its classifier head on a NetBuilder. */
export function buildNetwork(b: NetBuilder, spec: ModelSpec, images: string, numClasses: number): { features: string; logits: string } {
  const features = spec.features(b, images);
  const logits = b.linear(b.dropout(features, spec.head.dropout), spec.head.name, numClasses);
  return { features, logits };
}

/** One graph for a whole training step: forward, loss, gradients, running statistics. */
/**
 * The training half of a training graph: the targets input, the cross-entropy loss, the
 * backward pass of the trainable parameters, and the loss, logits and gradients as outputs.
 * Returns the names of the parameters that get a gradient.
 */
export function appendTrainingOutputs(g: Graph, b: NetBuilder, logits: string, options: { batch: number; numClasses: number }): string[] {
  const targets = g.input(IO.targets, 'float32', [options.batch, options.numClasses]);
  const loss = crossEntropyLoss(g, logits, targets);
  const trainable = b.trainableParams();
  const { gradients } = appendBackward(g, loss, trainable);
  g.output(g.alias(loss, IO.loss));
  g.output(g.alias(logits, IO.logits));
  for (const [p, grad] of gradients) g.output(g.alias(grad, IO.grad(p)));
  return [...gradients.keys()];
}

export function buildTrainingGraph(spec: ModelSpec, options: TrainingGraphOptions): TrainingGraph {
  const g = new Graph();
  const size = options.inputSize ?? spec.preprocess.inputSize;
  const images = g.input(IO.images, 'float32', [options.batch, 3, size, size]);
  const b = new NetBuilder(g, {
    mode: 'train',
    trainable: options.trainable,
    freezeBn: options.freezeBn,
    bnMomentum: options.bnMomentum ?? resolveBnMomentum(spec.bnMomentum, undefined).momentum,
    constants: options.constants,
    stochasticDepth: options.stochasticDepth ?? spec.stochasticDepth ?? 0,
  });
  const { logits } = buildNetwork(b, spec, images, options.numClasses);
  const trainable = appendTrainingOutputs(g, b, logits, options);
  for (const [p, value] of b.runningUpdates) g.output(g.alias(value, IO.running(p)));
  if (options.blocked) blockConvs(g, options.blocked);
  return { bytes: serializeModel(g), params: b.params, fed: b.fed, trainable, running: [...b.runningUpdates.keys()], masks: b.masks, batch: options.batch };
}

export interface InferenceGraphOptions extends NetworkGraphOptions {
  /** Embed these parameter values: a standalone model file (else parameters are inputs). */
  constants?: NamedTensors;
  /** Also output the pooled features. */
  withFeatures?: boolean;
  /** Output only the features (no classifier): a backbone for feature extraction. */
  featuresOnly?: boolean;
  metadata?: Record<string, string>;
  /** After the logits: calibrated probabilities, and the score and `unknown` with a threshold (calibrated-outputs.ts). */
  calibration?: CalibratedOutputsOptions;
}

/** Eval-mode forward graph: logits (and/or features), BatchNorm on running statistics. */
export function buildInferenceGraph(spec: ModelSpec, options: InferenceGraphOptions): BuiltGraph {
  const g = new Graph();
  const size = options.inputSize ?? spec.preprocess.inputSize;
  const images = g.input(IO.images, 'float32', [options.batch, 3, size, size]);
  const b = new NetBuilder(g, { mode: 'eval', constants: options.constants });
  if (options.featuresOnly) {
    g.output(g.alias(spec.features(b, images), IO.features));
  } else {
    const { features, logits } = buildNetwork(b, spec, images, options.numClasses);
    g.output(g.alias(logits, IO.logits));
    if (options.withFeatures) g.output(g.alias(features, IO.features));
    if (options.calibration) appendCalibratedOutputs(g, IO.logits, options.calibration, features);
  }
  return { bytes: serializeModel(g, { metadata: options.metadata }), params: b.params, fed: b.fed };
}
