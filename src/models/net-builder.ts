import { GraphError } from '../errors.js';
import type { Graph } from '../onnx/graph.js';
import { batchNorm } from '../onnx/ops/index.js';
import type { NamedTensors } from '../tensor.js';
import { sameShape } from '../tensor.js';
import { TORCH_BN_MOMENTUM } from './bn-momentum.js';

/** How a parameter is initialised when no pretrained value is loaded (torch's defaults). */
export type Init = { kind: 'zeros' } | { kind: 'ones' } | { kind: 'kaiming_normal_fan_out' } | { kind: 'uniform'; bound: number } | { kind: 'normal'; std: number };

export type ParamRole = 'weight' | 'bias' | 'bn_weight' | 'bn_bias' | 'running_mean' | 'running_var';

export interface ParamDef {
  name: string;
  shape: number[];
  role: ParamRole;
  init: Init;
}

export interface NetBuildOptions {
  /** 'train': BatchNorm on batch statistics (where not frozen), Dropout active. */
  mode: 'train' | 'eval';
  /** Which parameters get gradients (default: every weight and bias in train mode, none in eval). */
  trainable?: (name: string) => boolean;
  /** Keep every BatchNorm in inference mode even where its affine parameters train. */
  freezeBn?: boolean;
  /** BatchNorm momentum (torch's convention) of every layer in train mode; default torch's 0.1. */
  bnMomentum?: number;
  /**
   * Values of parameters that stay constant for this graph's life — all of them for a
   * standalone model, the frozen ones for a training graph. They are embedded as
   * initializers, so ONNX Runtime folds BatchNorm into Conv and pre-packs their weights;
   * the others are graph inputs fed at every run.
   */
  constants?: NamedTensors;
  /**
   * Stochastic depth's rate (torchvision's `stochastic_depth_prob`): in a training graph a residual branch
   * at relative depth d (0 <= d < 1) is dropped per sample with probability rate * d (see stochasticDepth).
   * Default 0 (none).
   */
  stochasticDepth?: number;
  /**
   * An eval-mode graph that still multiplies these blocks' branches by their row-mask inputs (the masks a
   * training builder declared, by name): the native engine's topology of a training step (its BatchNorm
   * policy is given apart). Inference graphs never set it.
   */
  rowMasks?: readonly DropoutMaskInput[];
}

export interface DropoutMaskInput {
  name: string;
  shape: number[];
  ratio: number;
}

export interface ConvOptions {
  kernel: number;
  stride?: number;
  padding?: number | [number, number, number, number];
  groups?: number;
  bias?: boolean;
  dilation?: number;
}

/**
 * Builds a network's forward graph layer by layer, declaring each parameter under its
 * torchvision name. Parameters become graph inputs (fed each step, so one ONNX Runtime
 * session serves the whole run) or, for a standalone export, initializers.
 */
export class NetBuilder {
  readonly params: ParamDef[] = [];
  /** Running-statistic parameter name -> graph value holding its updated value. */
  readonly runningUpdates = new Map<string, string>();
  /** Parameters that are graph inputs (fed at every run), in declaration order. */
  readonly fed: string[] = [];
  /**
   * Dropout mask inputs of a training graph, fed from the host (graphs/dropout-mask.ts), in the order the
   * host draws them: the stochastic-depth row masks [N, 1, 1, 1] of the blocks, input to output, then the head's.
   */
  readonly masks: DropoutMaskInput[] = [];
  private readonly trainableFn: (name: string) => boolean;

  constructor(
    readonly g: Graph,
    readonly options: NetBuildOptions,
  ) {
    const all = options.mode === 'train';
    this.trainableFn = options.trainable ?? (() => all);
  }

  get training(): boolean {
    return this.options.mode === 'train';
  }

  isTrainable(name: string): boolean {
    const def = this.params.find((p) => p.name === name);
    if (def && (def.role === 'running_mean' || def.role === 'running_var')) return false;
    return this.training && this.trainableFn(name);
  }

  trainableParams(): string[] {
    return this.params.filter((p) => this.isTrainable(p.name)).map((p) => p.name);
  }

  /**
   * Declares a parameter. `changes` says whether its value changes while this graph lives
   * (trained, or a running statistic being updated): such a parameter is always fed.
   */
  param(name: string, shape: number[], role: ParamRole, init: Init, changes = this.isTrainableName(name)): string {
    if (this.params.some((p) => p.name === name)) throw new GraphError('E_BAD_GRAPH', `Parameter \`${name}\` is declared twice`);
    this.params.push({ name, shape, role, init });
    const value = changes ? undefined : this.options.constants?.get(name);
    if (value) {
      if (!sameShape(value.shape, shape)) {
        throw new GraphError('E_SHAPE_MISMATCH', `Shape mismatch for \`${name}\`: expected [${shape}], found [${value.shape}]`, {
          hint: 'the weights were saved from another architecture or layout: check --model and --weights',
        });
      }
      return this.g.initializer(name, { dtype: 'float32', shape, data: value.data });
    }
    this.fed.push(name);
    return this.g.input(name, 'float32', shape);
  }

  private isTrainableName(name: string): boolean {
    return this.training && this.trainableFn(name);
  }

  conv2d(x: string, name: string, outChannels: number, o: ConvOptions): string {
    const inChannels = this.g.shape(x)[1];
    const groups = o.groups ?? 1;
    const k = o.kernel;
    const p = o.padding ?? 0;
    const pads = typeof p === 'number' ? [p, p, p, p] : p;
    const w = this.param(`${name}.weight`, [outChannels, inChannels / groups, k, k], 'weight', { kind: 'kaiming_normal_fan_out' });
    const inputs = [x, w];
    if (o.bias) inputs.push(this.param(`${name}.bias`, [outChannels], 'bias', { kind: 'zeros' }));
    const s = o.stride ?? 1;
    const d = o.dilation ?? 1;
    return this.g.op('Conv', inputs, { kernel_shape: [k, k], strides: [s, s], pads, dilations: [d, d], group: groups }, name);
  }

  batchNorm2d(x: string, name: string, options: { eps?: number } = {}): string {
    const c = this.g.shape(x)[1];
    const scale = this.param(`${name}.weight`, [c], 'bn_weight', { kind: 'ones' });
    const bias = this.param(`${name}.bias`, [c], 'bn_bias', { kind: 'zeros' });
    // A frozen layer (its affine parameters not trained) keeps its statistics: inference mode.
    const training = this.training && !this.options.freezeBn && (this.isTrainable(scale) || this.isTrainable(bias));
    const mean = this.param(`${name}.running_mean`, [c], 'running_mean', { kind: 'zeros' }, training);
    const variance = this.param(`${name}.running_var`, [c], 'running_var', { kind: 'ones' }, training);
    const r = batchNorm(this.g, x, { scale, bias, mean, variance }, { training, momentum: this.options.bnMomentum ?? TORCH_BN_MOMENTUM, epsilon: options.eps ?? 1e-5 });
    if (r.runningMean && r.runningVar) {
      this.runningUpdates.set(mean, r.runningMean);
      this.runningUpdates.set(variance, r.runningVar);
    }
    return r.y;
  }

  linear(x: string, name: string, outFeatures: number, bias = true): string {
    const inFeatures = this.g.shape(x)[1];
    const bound = 1 / Math.sqrt(inFeatures);
    const w = this.param(`${name}.weight`, [outFeatures, inFeatures], 'weight', { kind: 'uniform', bound });
    const inputs = [x, w];
    if (bias) inputs.push(this.param(`${name}.bias`, [outFeatures], 'bias', { kind: 'uniform', bound }));
    return this.g.op('Gemm', inputs, { transB: 1 }, name);
  }

  /** Inverted dropout; in a training graph its mask is an input the host draws from a seeded source. */
  dropout(x: string, p: number): string {
    if (!this.training || p === 0) return x;
    const name = `dropout_mask:${this.masks.length}`;
    const shape = this.g.shape(x);
    this.masks.push({ name, shape: [...shape], ratio: p });
    return this.g.op('Mul', [x, this.g.input(name, 'float32', shape)]);
  }

  /**
   * Stochastic depth in row mode (torchvision.ops.StochasticDepth(p, 'row')) on a residual branch `x` of the
   * block whose parameters are named `<scope>.*`, at relative depth `depth` (torchvision's EfficientNet: block
   * index / block count): in a training graph each sample's branch is kept with probability 1 - p and then
   * scaled by 1/(1 - p), p = stochasticDepth * depth, through a mask [N, 1, 1, 1] drawn by the host like the
   * dropout masks. Identity in eval mode, for p = 0, and in a block none of whose parameters train: headstart
   * runs frozen layers in eval mode (as their BatchNorm), where torchvision would still drop their branches.
   */
  stochasticDepth(x: string, scope: string, depth: number): string {
    const name = `stochastic_depth:${scope}`;
    if (!this.training) {
      const fed = this.options.rowMasks?.find((m) => m.name === name);
      return fed ? this.g.op('Mul', [x, this.g.input(name, 'float32', fed.shape)]) : x;
    }
    const p = (this.options.stochasticDepth ?? 0) * depth;
    if (p <= 0 || !this.params.some((q) => q.name.startsWith(`${scope}.`) && this.isTrainable(q.name))) return x;
    const shape = [this.g.shape(x)[0], 1, 1, 1];
    this.masks.push({ name, shape, ratio: p });
    return this.g.op('Mul', [x, this.g.input(name, 'float32', shape)]);
  }

  relu(x: string): string {
    return this.g.op('Relu', [x]);
  }
}
