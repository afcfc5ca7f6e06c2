/**
 * The training step on the all-native engine (oneDNN, native/headstart_plan.cc): the same network
 * definition, parameter names, trainable set, BatchNorm policy (momentum, --freeze-bn, frozen layers in
 * inference mode) and cross-entropy coefficients as the ONNX training graph (network-graph.ts), with
 * the same `step` as TrainingSession. `createNativeTrainingSession` returns `{ unsupported }` when the
 * network has an op the native executor lacks, so the caller keeps the ONNX engine. The head's dropout
 * and stochastic depth's row masks (EfficientNet) take the same host-drawn masks as the ONNX training
 * graph (dropout-mask.ts), drawn in the same order, so for the same random source both engines compute
 * the same step.
 */
import { EngineError } from '../errors.js';
import type { RandomSource } from '../random.js';
import { fillDropoutMask } from './dropout-mask.js';
import { compileNativePlan, NativePlan, type CompiledNativePlan, type NativePlanStats } from '../engine/native-plan.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import type { ModelSpec } from '../models/model-spec.js';
import { resolveBnMomentum } from '../models/bn-momentum.js';
import { NetBuilder } from '../models/net-builder.js';
import type { NamedTensors } from '../tensor.js';
import { buildNetwork, IO } from './network-graph.js';
import { suffixFromCut } from './suffix-from-cut.js';
import type { StepResult } from './training-session.js';

export interface NativeNetworkOptions {
  numClasses: number;
  batch: number;
  /** Square input side (default: the spec's input size). */
  inputSize?: number;
  /** 'train': forward + loss + backward; 'eval': the eval-mode forward (logits). */
  mode: 'train' | 'eval';
  trainable?: (name: string) => boolean;
  freezeBn?: boolean;
  /** BatchNorm momentum (torch's convention); default: the policy's (bn-momentum.ts). */
  bnMomentum?: number;
  /** oneDNN's OpenMP threads (default 1). */
  threads?: number;
  /**
   * Cached partial fine-tuning (--cache-frozen): the plan's input is this value of the eval-mode network
   * (the frozen stages' output, [N, ...] as frozen-cut.ts caches it) instead of the images; it runs only the
   * ops after it (suffix-from-cut.ts), with the same training policy as the whole network's plan.
   */
  cut?: string;
  /** Stochastic depth's rate (--stochastic-depth; 0: none); default the spec's, as the ONNX training graph. */
  stochasticDepth?: number;
}

export interface NativeNetwork {
  plan: CompiledNativePlan;
  /** Parameters that get a gradient (as TrainingGraph.trainable). */
  trainable: string[];
  /** Running-statistic parameters the step updates in place (as TrainingGraph.running). */
  running: string[];
  /** The head's dropout (train plans): its ratio and mask shape [N, F], as the ONNX graph's mask input. */
  dropout?: { ratio: number; shape: number[] };
  /** Stochastic depth's row masks (train plans), [N, 1, 1, 1] each, in the order they are drawn (before the head's). */
  rowMasks?: { name: string; ratio: number }[];
}

/** Compiles a model into a native plan, or says what the native executor lacks. */
export function compileNativeNetwork(spec: ModelSpec, o: NativeNetworkOptions): NativeNetwork | { unsupported: string } {
  const size = o.inputSize ?? spec.preprocess.inputSize;
  const momentum = o.bnMomentum ?? resolveBnMomentum(spec.bnMomentum, undefined).momentum;
  // The training policy, decided exactly as for the ONNX training graph: which parameters train,
  // which BatchNorm layers use batch statistics, whether there is dropout.
  const tg = new Graph();
  const stochasticDepth = o.stochasticDepth ?? spec.stochasticDepth ?? 0;
  const tb = new NetBuilder(tg, { mode: 'train', trainable: o.trainable, freezeBn: o.freezeBn, bnMomentum: momentum, stochasticDepth });
  buildNetwork(tb, spec, tg.input(IO.images, 'float32', [o.batch, 3, size, size]), o.numClasses);
  const train = o.mode === 'train';
  // Row masks [N, 1, 1, 1] (stochastic depth) are drawn first, in block order; then the head's dropout mask, if any.
  const isRow = (m: { shape: number[] }) => m.shape.length === 4 && m.shape[0] === o.batch && m.shape.slice(1).every((d) => d === 1);
  const rows = train ? tb.masks.filter(isRow) : [];
  const others = train ? tb.masks.filter((m) => !isRow(m)) : [];
  if (others.length > 1 || (others.length === 1 && tb.masks.at(-1) !== others[0]))
    return { unsupported: `Dropout: ${others.length} dropout layers (only the head's, before the classifier, and stochastic depth's row masks)` };
  const mask = others[0];
  if (mask && (mask.shape.length !== 2 || mask.shape[0] !== o.batch || mask.shape[1] !== spec.featureDim))
    return { unsupported: `Dropout: a mask of shape [${mask.shape}] (only the head's, [batch, ${spec.featureDim}])` };
  const trainable = train ? tb.trainableParams() : [];
  const running = train ? [...tb.runningUpdates.keys()] : [];
  // The topology, from the eval-mode graph: every parameter is a graph input named after it.
  const g = new Graph();
  const images = g.input(IO.images, 'float32', [o.batch, 3, size, size]);
  const { logits } = buildNetwork(new NetBuilder(g, { mode: 'eval', rowMasks: rows }), spec, images, o.numClasses);
  const source = o.cut === undefined ? g : suffixFromCut(g, o.cut, images, logits);
  if ('unsupported' in source) return source;
  const compiled = compileNativePlan(source, {
    train,
    images: o.cut ?? images,
    logits,
    trainable: new Set(trainable),
    bnTraining: new Set(running),
    bnMomentum: momentum,
    threads: o.threads ?? 1,
    dropout: mask !== undefined,
    rowMasks: rows.map((m) => m.name),
  });
  if ('unsupported' in compiled) return compiled;
  return {
    plan: compiled.plan,
    trainable,
    running,
    ...(mask ? { dropout: { ratio: mask.ratio, shape: [...mask.shape] } } : {}),
    ...(rows.length ? { rowMasks: rows.map((m) => ({ name: m.name, ratio: m.ratio })) } : {}),
  };
}

/**
 * Training steps on the native engine. Parameters are read by reference from `params` (the optimiser
 * updates them in place between steps) and running statistics are updated in place; gradients and
 * logits are buffers this session reuses (consume them before the next step).
 */
export class NativeTrainingSession {
  readonly trainable: string[];
  readonly running: string[];
  readonly batch: number;
  private readonly paramData: Float32Array[];
  private readonly gradData: (Float32Array | null)[];
  private readonly grads = new Map<string, Float32Array>();
  private readonly logits: Float32Array;
  private readonly loss = new Float64Array(1);
  private readonly dropout?: { ratio: number; mask: Float32Array };
  /** Stochastic depth: every row mask's values, N per mask, and each mask's drop probability. */
  private readonly rowMasks?: { ratios: number[]; values: Float32Array };

  private constructor(
    private readonly plan: NativePlan,
    network: NativeNetwork,
    params: NamedTensors,
  ) {
    if (network.dropout) this.dropout = { ratio: network.dropout.ratio, mask: new Float32Array(network.dropout.shape[0] * network.dropout.shape[1]) };
    if (network.rowMasks) this.rowMasks = { ratios: network.rowMasks.map((m) => m.ratio), values: new Float32Array(network.rowMasks.length * network.plan.batch) };
    this.trainable = network.trainable;
    this.running = network.running;
    this.batch = network.plan.batch;
    const trains = new Set(network.trainable);
    this.paramData = network.plan.params.map((name) => {
      const t = params.get(name);
      if (!t || !(t.data instanceof Float32Array))
        throw new EngineError('E_INTERNAL', `No float32 value for parameter \`${name}\` of the native plan (a bug in headstart: the parameters must cover the network)`);
      return t.data;
    });
    this.gradData = network.plan.params.map((name, i) => (trains.has(name) ? new Float32Array(this.paramData[i].length) : null));
    network.plan.params.forEach((name, i) => {
      const g = this.gradData[i];
      if (g) this.grads.set(name, g);
    });
    this.logits = new Float32Array(network.plan.batch * network.plan.numClasses);
  }

  /** A session, or why the native engine cannot run this network (then use TrainingSession). */
  static create(spec: ModelSpec, options: Omit<NativeNetworkOptions, 'mode'>, params: NamedTensors): NativeTrainingSession | { unsupported: string } {
    const network = compileNativeNetwork(spec, { ...options, mode: 'train' });
    if ('unsupported' in network) return network;
    return new NativeTrainingSession(NativePlan.create(network.plan), network, params);
  }

  /**
   * One training step (same contract as TrainingSession.step): `random` draws the stochastic-depth row
   * masks, then the head's dropout mask, exactly as TrainingSession does (the graph's mask order), so the
   * same source gives both engines the same masks.
   */
  async step(images: Float32Array, targets: Float32Array, random?: RandomSource): Promise<StepResult> {
    if ((this.dropout || this.rowMasks) && !random)
      throw new EngineError('E_BAD_ARGUMENT', 'This network has dropout or stochastic depth: pass a seeded random source to step()', { hint: 'e.g. keyedRandom(seed, epoch, batch)' });
    if (this.rowMasks && random) {
      const n = this.batch;
      this.rowMasks.ratios.forEach((p, i) => fillDropoutMask(this.rowMasks!.values.subarray(i * n, (i + 1) * n), p, random));
    }
    if (this.dropout && random) fillDropoutMask(this.dropout.mask, this.dropout.ratio, random);
    await this.plan.run(images, targets, this.paramData, this.gradData, this.logits, this.loss, this.dropout?.mask ?? null, this.rowMasks?.values ?? null);
    return { loss: this.loss[0], logits: this.logits, grads: this.grads };
  }

  /** Milliseconds per kind of work (convolutions, BatchNorm, reorders, ...) since creation. */
  stats(): NativePlanStats {
    return this.plan.stats();
  }

  release(): Promise<void> {
    this.plan.release();
    return Promise.resolve();
  }
}

/** Eval-mode forward on the native engine (BatchNorm on running statistics): logits [N, K]. */
export class NativeEvalSession {
  private readonly paramData: Float32Array[];
  private readonly loss = new Float64Array(1);
  readonly logits: Float32Array;
  private readonly batch: number;
  private readonly numClasses: number;
  /** Floats per input row (the plan's input is tensor 0: [N, C, H, W]). */
  private readonly rowSize: number;
  private padded?: Float32Array;

  private constructor(
    private readonly plan: NativePlan,
    network: NativeNetwork,
    params: NamedTensors,
  ) {
    this.paramData = network.plan.params.map((name) => params.get(name)!.data as Float32Array);
    this.batch = network.plan.batch;
    this.numClasses = network.plan.numClasses;
    const [, c, h, w] = network.plan.arrays.tensors;
    this.rowSize = c * h * w;
    this.logits = new Float32Array(this.batch * this.numClasses);
  }

  static create(spec: ModelSpec, options: Omit<NativeNetworkOptions, 'mode' | 'trainable' | 'freezeBn' | 'bnMomentum'>, params: NamedTensors): NativeEvalSession | { unsupported: string } {
    const network = compileNativeNetwork(spec, { ...options, mode: 'eval' });
    if ('unsupported' in network) return network;
    return new NativeEvalSession(NativePlan.create(network.plan), network, params);
  }

  /** The logits of a batch (a buffer this session reuses). */
  async run(images: Float32Array): Promise<Float32Array> {
    await this.plan.run(
      images,
      null,
      this.paramData,
      this.paramData.map(() => null),
      this.logits,
      this.loss,
    );
    return this.logits;
  }

  /**
   * The logits of the first `n` rows of `rows` (n <= the plan's batch), as a new array. Eval-mode rows are
   * independent (BatchNorm on running statistics), so a smaller last batch runs zero-padded through this
   * one plan rather than through a second one (memory touched once).
   */
  async logitsOf(rows: Float32Array, n: number): Promise<Float32Array> {
    if (n === this.batch) return (await this.run(rows)).slice();
    const used = n * this.rowSize;
    this.padded ??= new Float32Array(this.batch * this.rowSize);
    this.padded.set(rows.subarray(0, used));
    this.padded.fill(0, used);
    return (await this.run(this.padded)).slice(0, n * this.numClasses);
  }

  /** Frees the plan's buffers now (not at garbage collection); it cannot run afterwards. */
  release(): Promise<void> {
    this.plan.release();
    return Promise.resolve();
  }
}
