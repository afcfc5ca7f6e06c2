/**
 * The all-native training step (issue 10): a network's forward graph compiled into a plan that the
 * oneDNN addon (native/headstart_plan.cc) runs whole — forward, softmax cross-entropy, backward —
 * with activations kept in oneDNN's blocked layouts, gradients written into caller-owned arrays.
 *
 * `compileNativePlan` reads an eval-mode forward graph built by NetBuilder (every parameter a graph
 * input named after it) and maps its nodes onto the executor's ops: Conv (grouped/depthwise too),
 * BatchNormalization (+ a following Relu fused), Relu, Clip (constant bounds: ReLU6), MaxPool, Add
 * (+ Relu fused), GlobalAveragePool, Flatten, Gemm (+ the head's dropout, its mask fed per step; a Gemm
 * before the classifier, as MobileNetV3's classifier.0, is an inner product of its own), and for
 * EfficientNet / MobileNetV3: Sigmoid, SiLU (x * Sigmoid(x), the Mul folded in), HardSwish, HardSigmoid
 * (a linear map + Clip(0, 1)), the squeeze-excitation Mul [N, C, H, W] * [N, C, 1, 1] and its 1x1 convs
 * with bias, and stochastic depth's Mul [N, C, H, W] * mask [N, 1, 1, 1] (a row-mask input named in
 * `rowMasks`, its values fed per step). Any other op, or an attribute form the executor lacks, gives `{ unsupported: '<op>: why' }` so the
 * caller keeps the ONNX Runtime engine: never a wrong answer.
 *
 * HEADSTART_NATIVE_CONV=0 hides the addon here too.
 */
import { createRequire } from 'node:module';
import { EngineError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { Graph, Node } from '../onnx/graph.js';
import { floatAttr, intAttr, intsAttr, stringAttr } from '../onnx/op-registry.js';
import { nativeAddonFile } from './native-conv.js';

/** The plan as the addon reads it (one op record: type, in0, in1, out, w, p1, p2, p3, k, s, pt, pl, pb, pr, flags, groups). */
interface PlanArrays {
  train: boolean;
  threads: number;
  tensors: Int32Array;
  ops: Int32Array;
  opFloats: Float64Array;
  paramSizes: Int32Array;
  trainable: Int32Array;
}

/** Milliseconds per kind of work since the plan was made (or reset), summed over `steps` steps. */
export interface NativePlanStats {
  names: string[];
  ms: number[];
  steps: number;
  /** Bytes of the plan's buffers (activations, gradients, workspaces), placed by liveness in one arena. */
  bufferBytes: number;
  /** What those buffers would take with one allocation each (the arena's saving is the difference). */
  unsharedBufferBytes: number;
  /** Convolutions in the plan, and how many run oneDNN's Winograd algorithm (HEADSTART_NATIVE_CONV_ALGO). */
  convs: number;
  winogradConvs: number;
}

/** The plan interface's version this code speaks (kPlanAbi in native/headstart_plan.cc; an addon built from other sources is refused). */
const NATIVE_PLAN_ABI = 2;

interface PlanAddon {
  planAbi: number;
  createPlan(plan: PlanArrays): object;
  runPlan(
    plan: object,
    images: Float32Array,
    coefficients: Float32Array | null,
    params: Float32Array[],
    grads: (Float32Array | null)[],
    logits: Float32Array,
    loss: Float64Array,
    dropoutMask: Float32Array | null,
    rowMasks: Float32Array | null,
  ): Promise<void>;
  planStats(plan: object): NativePlanStats;
  planReset(plan: object): void;
  planRelease(plan: object): void;
}

const OP = { Conv: 1, BatchNormalization: 2, Relu: 3, MaxPool: 4, Add: 5, GlobalAveragePool: 6, Gemm: 7, Clip: 8, Eltwise: 9, Mul: 10, Fc: 11, RowScale: 12 } as const;
/** An Eltwise op's function (the record's `k`); its two floats are alpha and beta. */
const ELT = { Sigmoid: 1, Swish: 2, HardSwish: 3, Linear: 4 } as const;
const REC = 16;
const F_TRAINING = 1;
const F_RELU = 2;
/** On the classifier: its input features are multiplied by a dropout mask the caller passes at each step. */
const F_DROPOUT = 4;

export interface CompileNativePlanOptions {
  /** true: forward + loss + backward (BatchNorm on batch statistics where `bnTraining` says); false: eval forward. */
  train: boolean;
  /** The graph input holding the image batch [N, 3, H, W]. */
  images: string;
  /** The classifier's output value (the logits, [N, K]). */
  logits: string;
  /** Parameters that get a gradient. */
  trainable: ReadonlySet<string>;
  /** Running-mean parameter names of the BatchNorm layers that normalise with batch statistics. */
  bnTraining: ReadonlySet<string>;
  /** BatchNorm momentum, torch's convention. */
  bnMomentum: number;
  threads: number;
  /** Train plans: the classifier's input features are multiplied by a mask [N, F] fed at each step (inverted dropout). */
  dropout?: boolean;
  /**
   * Train plans: graph inputs [N, 1, 1, 1] that multiply an activation per sample (stochastic depth's row
   * masks), in the order of the caller's row-mask array: mask i is its values [i*N, (i+1)*N).
   */
  rowMasks?: readonly string[];
}

/** A compiled plan: the arrays for the addon and the parameter names in its order. */
export interface CompiledNativePlan {
  arrays: PlanArrays;
  /** Parameter names, in the plan's parameter order. */
  params: string[];
  batch: number;
  numClasses: number;
  inputSize: [number, number];
}

const to4 = (shape: readonly number[]): number[] => [...shape, 1, 1, 1].slice(0, 4);

/** Maps an eval-mode forward graph onto the executor's ops, or says which op it lacks. */
export function compileNativePlan(g: Graph, o: CompileNativePlanOptions): { plan: CompiledNativePlan } | { unsupported: string } {
  const tensorOf = new Map<string, number>();
  const tensorDims: number[][] = [];
  const newTensor = (value: string): number => {
    tensorDims.push(to4(g.shape(value)));
    tensorOf.set(value, tensorDims.length - 1);
    return tensorDims.length - 1;
  };
  const paramIndex = new Map<string, number>();
  const params: string[] = [];
  const inputNames = new Set(g.inputs.map((i) => i.name));
  const param = (name: string): number | undefined => {
    if (!inputNames.has(name) || name === o.images) return undefined;
    let i = paramIndex.get(name);
    if (i === undefined) {
      i = params.length;
      params.push(name);
      paramIndex.set(name, i);
    }
    return i;
  };
  const imageShape = g.shape(o.images);
  if (imageShape.length !== 4 || imageShape.some((d) => d < 1)) return { unsupported: `images: a static [N, 3, H, W] input is needed, found [${imageShape}]` };
  newTensor(o.images);
  const consumers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const skipped = new Set<Node>();
  const records: number[][] = [];
  const floats: number[] = [];
  // A Relu that is the only consumer of `value` is fused into its producer.
  const fusedRelu = (value: string): Node | undefined => {
    const c = consumers.get(value) ?? [];
    return c.length === 1 && c[0].op === 'Relu' && !g.outputs.some((x) => x.name === value) ? c[0] : undefined;
  };
  const tensorIn = (n: Node, k: number): number | string => {
    const t = tensorOf.get(n.inputs[k]);
    return t === undefined ? `${n.op} \`${n.name}\`: input ${k} (\`${n.inputs[k]}\`) is not an activation the plan computes` : t;
  };
  const paramIn = (n: Node, k: number): number | string => {
    const p = n.inputs[k] ? param(n.inputs[k]) : undefined;
    return p === undefined ? `${n.op} \`${n.name}\`: input ${k} (\`${n.inputs[k] ?? ''}\`) must be a parameter fed as a graph input` : p;
  };
  // A zero Pad of H/W whose only consumer is a Conv (Keras's ZeroPadding2D) is folded into that Conv's pads.
  const padded = new Map<string, { source: string; pads: number[] }>();
  let logitsSeen = false;
  for (const n of g.nodes) {
    if (skipped.has(n)) continue;
    if (logitsSeen) return { unsupported: `${n.op}: the classifier (Gemm) must be the graph's last op` };
    const rec = new Array<number>(REC).fill(-1);
    rec.fill(0, 8);
    let eps = 0;
    let second = o.bnMomentum;
    let relu: Node | undefined;
    switch (n.op) {
      case 'Identity':
      case 'Flatten': {
        const t = tensorIn(n, 0);
        if (typeof t === 'string') return { unsupported: t };
        const shape = g.shape(n.outputs[0]);
        if (n.op === 'Flatten' && (intAttr(n, 'axis', 1) !== 1 || tensorDims[t][2] * tensorDims[t][3] !== 1 || shape.length !== 2))
          return { unsupported: `Flatten \`${n.name}\`: only the [N, C, 1, 1] -> [N, C] form after GlobalAveragePool` };
        tensorOf.set(n.outputs[0], t);
        continue;
      }
      case 'Pad': {
        const c = consumers.get(n.outputs[0]) ?? [];
        const init = (k: number) => (n.inputs[k] ? g.initializers.get(n.inputs[k]) : undefined);
        const p = init(1);
        const value = init(2);
        const folds =
          stringAttr(n, 'mode', 'constant') === 'constant' &&
          p !== undefined &&
          p.data.length === 8 &&
          !n.inputs[3] &&
          (!n.inputs[2] || (value !== undefined && value.data.length === 1 && Number(value.data[0]) === 0)) &&
          c.length === 1 &&
          c[0].op === 'Conv' &&
          c[0].inputs[0] === n.outputs[0] &&
          !g.outputs.some((x) => x.name === n.outputs[0]);
        const pads = p ? Array.from(p.data as ArrayLike<number | bigint>, Number) : [];
        if (!folds || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((v) => v < 0))
          return { unsupported: `Pad \`${n.name}\`: only a constant zero padding of H and W that feeds one Conv (it is folded into the Conv's pads)` };
        padded.set(n.outputs[0], { source: n.inputs[0], pads: [pads[2], pads[3], pads[6], pads[7]] });
        continue;
      }
      case 'Conv': {
        const pad = padded.get(n.inputs[0]);
        const x = pad ? (tensorOf.get(pad.source) ?? `Pad before Conv \`${n.name}\`: its input is not an activation the plan computes`) : tensorIn(n, 0);
        const w = paramIn(n, 1);
        if (typeof x === 'string') return { unsupported: x };
        if (typeof w === 'string') return { unsupported: w };
        const bias = n.inputs[2] ? paramIn(n, 2) : -1;
        if (typeof bias === 'string') return { unsupported: bias };
        const groups = intAttr(n, 'group', 1);
        const cin = tensorDims[x][1];
        const cout = g.shape(n.outputs[0])[1];
        if (groups < 1 || cin % groups !== 0 || cout % groups !== 0) return { unsupported: `Conv \`${n.name}\`: group ${groups} does not divide ${cin} input / ${cout} output channels` };
        const k = intsAttr(n, 'kernel_shape', []);
        const s = intsAttr(n, 'strides', [1, 1]);
        const d = intsAttr(n, 'dilations', [1, 1]);
        if (k.length !== 2 || k[0] !== k[1] || s[0] !== s[1] || d.some((v) => v !== 1)) return { unsupported: `Conv \`${n.name}\`: only square kernels and strides, no dilation` };
        const pads = intsAttr(n, 'pads', [0, 0, 0, 0]).map((v, i) => v + (pad ? pad.pads[i] : 0));
        // The executor runs any biased conv, but only squeeze-excitation's 1x1 convs on pooled [N, C, 1, 1] maps are
        // lowered: allowing every biased conv would move each network that has one (test nets, imported ONNX
        // backbones exported in eval mode) onto the native engine under --engine auto, a change to make with the full
        // test suite run.
        if (bias !== -1 && !(k[0] === 1 && tensorDims[x][2] === 1 && tensorDims[x][3] === 1))
          return { unsupported: `Conv \`${n.name}\`: a bias outside squeeze-excitation's 1x1 convolutions on [N, C, 1, 1] (torchvision's convolutions before BatchNorm have none)` };
        rec.splice(0, REC, OP.Conv, x, -1, -1, w, bias, -1, -1, k[0], s[0], pads[0], pads[1], pads[2], pads[3], 0, groups);
        break;
      }
      case 'BatchNormalization': {
        const x = tensorIn(n, 0);
        if (typeof x === 'string') return { unsupported: x };
        const ps = [1, 2, 3, 4].map((k) => paramIn(n, k));
        const bad = ps.find((p) => typeof p === 'string');
        if (bad !== undefined) return { unsupported: bad };
        if (intAttr(n, 'training_mode', 0) !== 0) return { unsupported: `BatchNormalization \`${n.name}\`: ONNX Runtime's training_mode form` };
        eps = floatAttr(n, 'epsilon', 1e-5);
        relu = fusedRelu(n.outputs[0]);
        const training = o.train && o.bnTraining.has(n.inputs[3]);
        rec.splice(0, REC, OP.BatchNormalization, x, -1, -1, ...(ps as number[]), 0, 0, 0, 0, 0, 0, (training ? F_TRAINING : 0) | (relu ? F_RELU : 0), 1);
        break;
      }
      case 'Relu': {
        const x = tensorIn(n, 0);
        if (typeof x === 'string') return { unsupported: x };
        rec.splice(0, REC, OP.Relu, x, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1);
        break;
      }
      case 'Clip': {
        // ReLU6 and other constant bounds: y = min(max(x, lo), hi); the gradient passes where lo < x < hi (as the ONNX rule).
        const x = tensorIn(n, 0);
        if (typeof x === 'string') return { unsupported: x };
        const bound = (k: number, dflt: number): number | undefined => {
          if (!n.inputs[k]) return dflt;
          const c = g.initializers.get(n.inputs[k]);
          return c && c.data.length === 1 ? Number(c.data[0]) : undefined;
        };
        const lo = bound(1, -3.4028234663852886e38);
        const hi = bound(2, 3.4028234663852886e38);
        if (lo === undefined || hi === undefined) return { unsupported: `Clip \`${n.name}\`: bounds computed at run time (only constant scalar bounds)` };
        rec.splice(0, REC, OP.Clip, x, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1);
        eps = lo;
        second = hi;
        break;
      }
      case 'MaxPool': {
        const x = tensorIn(n, 0);
        if (typeof x === 'string') return { unsupported: x };
        const k = intsAttr(n, 'kernel_shape', []);
        const s = intsAttr(n, 'strides', [1, 1]);
        const pads = intsAttr(n, 'pads', [0, 0, 0, 0]);
        if (n.outputs.length > 1 && n.outputs[1] !== '') return { unsupported: `MaxPool \`${n.name}\`: the Indices output` };
        if (k.length !== 2 || k[0] !== k[1] || s[0] !== s[1] || intAttr(n, 'ceil_mode', 0) !== 0 || intsAttr(n, 'dilations', [1, 1]).some((v) => v !== 1))
          return { unsupported: `MaxPool \`${n.name}\`: only square kernels and strides, floor mode, no dilation` };
        rec.splice(0, REC, OP.MaxPool, x, -1, -1, -1, -1, -1, -1, k[0], s[0], pads[0], pads[1], pads[2], pads[3], 0, 1);
        break;
      }
      case 'Add': {
        const a = tensorIn(n, 0);
        const b = tensorIn(n, 1);
        if (typeof a === 'string') return { unsupported: a };
        if (typeof b === 'string') return { unsupported: b };
        if (tensorDims[a].join() !== tensorDims[b].join()) return { unsupported: `Add \`${n.name}\`: broadcasting` };
        relu = fusedRelu(n.outputs[0]);
        rec.splice(0, REC, OP.Add, a, b, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, relu ? F_RELU : 0, 1);
        break;
      }
      case 'GlobalAveragePool': {
        const x = tensorIn(n, 0);
        if (typeof x === 'string') return { unsupported: x };
        rec.splice(0, REC, OP.GlobalAveragePool, x, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1);
        break;
      }
      case 'Gemm': {
        const x = tensorIn(n, 0);
        const w = paramIn(n, 1);
        if (typeof x === 'string') return { unsupported: x };
        if (typeof w === 'string') return { unsupported: w };
        const b = n.inputs[2] ? paramIn(n, 2) : -1;
        if (typeof b === 'string') return { unsupported: b };
        if (intAttr(n, 'transB', 0) !== 1 || intAttr(n, 'transA', 0) !== 0 || floatAttr(n, 'alpha', 1) !== 1 || floatAttr(n, 'beta', 1) !== 1)
          return { unsupported: `Gemm \`${n.name}\`: only y = x W^T + b (transB=1)` };
        if (n.outputs[0] !== o.logits) {
          // A linear layer inside the network (MobileNetV3's classifier.0): an inner product on plain [N, F].
          rec.splice(0, REC, OP.Fc, x, -1, -1, w, b, -1, -1, 0, 0, 0, 0, 0, 0, 0, 1);
          break;
        }
        rec.splice(0, REC, OP.Gemm, x, -1, -1, w, b, -1, -1, 0, 0, 0, 0, 0, 0, o.train && o.dropout ? F_DROPOUT : 0, 1);
        logitsSeen = true;
        break;
      }
      case 'Sigmoid':
      case 'HardSwish':
      case 'HardSigmoid':
      case 'Mul': {
        const row = o.train && n.op === 'Mul' ? (o.rowMasks ?? []).indexOf(n.inputs[1]) : -1;
        if (row >= 0) {
          const x = tensorIn(n, 0);
          if (typeof x === 'string') return { unsupported: x };
          const ms = g.shape(n.inputs[1]);
          if (ms.length !== 4 || ms[0] !== imageShape[0] || ms.slice(1).some((d) => d !== 1) || tensorDims[x][0] !== imageShape[0])
            return { unsupported: `Mul \`${n.name}\`: a row mask of shape [${ms}] (only [N, 1, 1, 1] on an [N, ...] activation)` };
          rec.splice(0, REC, OP.RowScale, x, -1, -1, -1, -1, -1, -1, row * imageShape[0], 0, 0, 0, 0, 0, 0, 1);
          break;
        }
        const lowered = lowerGateOp(g, n, consumers, tensorIn);
        if ('unsupported' in lowered) return lowered;
        if (lowered.skip) skipped.add(lowered.skip);
        if (lowered.linear) {
          // HardSigmoid = Clip(alpha x + beta, 0, 1): a Linear eltwise into a tensor of its own, then the Clip.
          const mid = tensorDims.push(to4(g.shape(n.inputs[0]))) - 1;
          records.push([OP.Eltwise, lowered.rec[1], -1, mid, -1, -1, -1, -1, ELT.Linear, 0, 0, 0, 0, 0, 0, 1]);
          floats.push(...lowered.linear);
          lowered.rec[1] = mid;
        }
        rec.splice(0, REC, ...lowered.rec);
        [eps, second] = lowered.floats;
        if (lowered.output) {
          rec[3] = newTensor(lowered.output);
          records.push(rec);
          floats.push(eps, second);
          continue;
        }
        break;
      }
      default:
        return {
          unsupported: `${n.op} (the native engine runs Conv (grouped and depthwise too, with or without bias), BatchNormalization, Relu, Clip, MaxPool, Add, GlobalAveragePool, Flatten, Gemm, Sigmoid, SiLU (x * Sigmoid(x)), HardSwish, HardSigmoid, the squeeze-excitation Mul [N, C, H, W] * [N, C, 1, 1], and stochastic depth's row-mask Mul)`,
        };
    }
    const value = relu ? relu.outputs[0] : n.outputs[0];
    if (relu) skipped.add(relu);
    rec[3] = newTensor(value);
    records.push(rec);
    floats.push(eps, second);
  }
  if (!logitsSeen || tensorOf.get(o.logits) !== tensorDims.length - 1) return { unsupported: 'the graph does not end in the classifier (Gemm) producing the logits' };
  const shapes = new Map(g.inputs.map((i) => [i.name, i.shape]));
  const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  return {
    plan: {
      arrays: {
        train: o.train,
        threads: o.threads,
        tensors: Int32Array.from(tensorDims.flat()),
        ops: Int32Array.from(records.flat()),
        opFloats: Float64Array.from(floats),
        paramSizes: Int32Array.from(params.map((p) => numel(shapes.get(p)!))),
        trainable: Int32Array.from(params.map((p) => (o.train && o.trainable.has(p) ? 1 : 0))),
      },
      params,
      batch: imageShape[0],
      numClasses: g.shape(o.logits)[1],
      inputSize: [imageShape[2], imageShape[3]],
    },
  };
}

interface LoweredGateOp {
  /** The op record, its output tensor id left to the caller (rec[3]). */
  rec: number[];
  floats: [number, number];
  /** A node folded into this one (the Mul of a SiLU), not lowered on its own. */
  skip?: Node;
  /** The value this record produces when it is not the node's own output (a fused SiLU: the Mul's). */
  output?: string;
  /** HardSigmoid: the alpha and beta of the Linear eltwise that feeds the Clip(0, 1) in `rec`. */
  linear?: [number, number];
}

/**
 * Sigmoid (fused with its Mul into SiLU when the graph spells x * Sigmoid(x), as efficientnet.ts does),
 * HardSwish, HardSigmoid, and the squeeze-excitation product Mul(s [N, C, 1, 1], x [N, C, H, W]).
 */
function lowerGateOp(g: Graph, n: Node, consumers: ReadonlyMap<string, Node[]>, tensorIn: (n: Node, k: number) => number | string): LoweredGateOp | { unsupported: string } {
  const record = (type: number, a: number, b: number, kind: number): number[] => [type, a, b, -1, -1, -1, -1, -1, kind, 0, 0, 0, 0, 0, 0, 1];
  if (n.op === 'Mul') {
    const a = tensorIn(n, 0);
    const b = tensorIn(n, 1);
    if (typeof a === 'string') return { unsupported: a };
    if (typeof b === 'string') return { unsupported: b };
    const [sa, sb] = [g.shape(n.inputs[0]), g.shape(n.inputs[1])];
    const gate = (s: readonly number[], x: readonly number[]) => s.length === 4 && x.length === 4 && s[0] === x[0] && s[1] === x[1] && s[2] === 1 && s[3] === 1 && x[2] * x[3] > 1;
    if (gate(sa, sb)) return { rec: record(OP.Mul, b, a, 0), floats: [0, 0] };
    if (gate(sb, sa)) return { rec: record(OP.Mul, a, b, 0), floats: [0, 0] };
    return { unsupported: `Mul \`${n.name}\`: only x * Sigmoid(x) (SiLU) and the squeeze-excitation form [N, C, H, W] * [N, C, 1, 1], found [${sa}] * [${sb}]` };
  }
  const x = tensorIn(n, 0);
  if (typeof x === 'string') return { unsupported: x };
  if (n.op === 'HardSwish') return { rec: record(OP.Eltwise, x, -1, ELT.HardSwish), floats: [0, 0] };
  if (n.op === 'HardSigmoid') return { rec: record(OP.Clip, x, -1, 0), floats: [0, 1], linear: [floatAttr(n, 'alpha', 0.2), floatAttr(n, 'beta', 0.5)] };
  // Sigmoid: SiLU when its one consumer is Mul(x, Sigmoid(x)) (either order).
  const c = consumers.get(n.outputs[0]) ?? [];
  const mul = c.length === 1 && c[0].op === 'Mul' ? c[0] : undefined;
  if (mul && mul.inputs.length === 2 && mul.inputs.includes(n.inputs[0]) && mul.inputs.includes(n.outputs[0]) && !g.outputs.some((v) => v.name === n.outputs[0]))
    return { rec: record(OP.Eltwise, x, -1, ELT.Swish), floats: [1, 0], skip: mul, output: mul.outputs[0] };
  return { rec: record(OP.Eltwise, x, -1, ELT.Sigmoid), floats: [0, 0] };
}

/** Why a loaded addon cannot run this code's plans (it predates the plan executor, or was built from other sources), or undefined. */
export function planAddonProblem(addon: { createPlan?: unknown; planAbi?: unknown }, file: string): string | undefined {
  if (typeof addon.createPlan !== 'function') return `the native addon ${file} predates the plan executor (rebuild it: npm run build:native)`;
  if (addon.planAbi !== NATIVE_PLAN_ABI)
    return `the native addon ${file} was built from other sources (plan interface ${typeof addon.planAbi === 'number' ? addon.planAbi : 1}, this version needs ${NATIVE_PLAN_ABI}): rebuild it: npm run build:native`;
  return undefined;
}

function loadAddon(env: NodeJS.ProcessEnv): { addon: PlanAddon } | { reason: string } {
  if (env.HEADSTART_NATIVE_CONV === '0') return { reason: 'HEADSTART_NATIVE_CONV=0 disables the native addon' };
  const file = nativeAddonFile();
  if (!file) return { reason: 'the native addon is not built (run `npm run build:native`; it needs g++ and Debian libdnnl-dev)' };
  try {
    const addon = createRequire(import.meta.url)(file) as Partial<PlanAddon>;
    const problem = planAddonProblem(addon, file);
    return problem ? { reason: problem } : { addon: addon as PlanAddon };
  } catch (err) {
    return { reason: `the native addon ${file} failed to load: ${(err as Error).message} (rebuild it: npm run build:native)` };
  }
}

/** Why the native engine is not available here, or undefined when it is. */
export function nativePlanUnavailable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const r = loadAddon(env);
  return 'reason' in r ? r.reason : undefined;
}

function engineError(err: unknown, what: string): EngineError {
  const code = (err as { code?: string }).code;
  const known = ERROR_CODES.includes(code as ErrorCode) ? (code as ErrorCode) : 'E_ENGINE_RUN';
  return new EngineError(known, `Native engine: ${what}: ${(err as Error).message}`, { hint: 'HEADSTART_NATIVE_CONV=0 or --engine onnx runs the ONNX Runtime engine instead', cause: err });
}

/** A plan built in the addon: every primitive and buffer made once; `run` does one step. */
export class NativePlan {
  private constructor(
    private readonly addon: PlanAddon,
    private readonly handle: object,
    readonly compiled: CompiledNativePlan,
  ) {}

  static create(compiled: CompiledNativePlan, env: NodeJS.ProcessEnv = process.env): NativePlan {
    const loaded = loadAddon(env);
    if ('reason' in loaded) {
      throw new EngineError('E_DEVICE', `No native engine: ${loaded.reason}`, { hint: 'apt-get install -y g++ libdnnl-dev && npm run build:native, or --engine onnx' });
    }
    try {
      return new NativePlan(loaded.addon, loaded.addon.createPlan(compiled.arrays), compiled);
    } catch (err) {
      throw engineError(err, 'building the plan');
    }
  }

  /**
   * One step: forward (and, for a training plan, the loss and backward). `params` and `grads` follow
   * `compiled.params` (grads: a Float32Array where the parameter trains, else null); running
   * statistics are updated in place in `params`. `dropoutMask`: the head's [N, F] (a plan compiled with
   * `dropout`); `rowMasks`: the `rowMasks` inputs' values, N per mask, in their order. Resolves when every
   * output is written.
   */
  async run(
    images: Float32Array,
    coefficients: Float32Array | null,
    params: Float32Array[],
    grads: (Float32Array | null)[],
    logits: Float32Array,
    loss: Float64Array,
    dropoutMask: Float32Array | null = null,
    rowMasks: Float32Array | null = null,
  ): Promise<void> {
    try {
      await this.addon.runPlan(this.handle, images, coefficients, params, grads, logits, loss, dropoutMask, rowMasks);
    } catch (err) {
      throw engineError(err, 'running a step');
    }
  }

  stats(): NativePlanStats {
    return this.addon.planStats(this.handle);
  }

  resetStats(): void {
    this.addon.planReset(this.handle);
  }

  /** Frees the plan's buffers now (not at garbage collection); it cannot run afterwards. */
  release(): void {
    this.addon.planRelease(this.handle);
  }
}
