import path from 'node:path';
import { ConfigError, GraphError } from '../errors.js';
import type { Node } from '../onnx/graph.js';
import { Graph } from '../onnx/graph.js';
import { floatAttr, getOp } from '../onnx/op-registry.js';
import { batchNorm } from '../onnx/ops/index.js';
import type { NamedTensors } from '../tensor.js';
import { readOnnxFile } from '../weights/onnx-file.js';
import { IMAGENET_PREPROCESS_MODEL } from './imagenet-preprocess.js';
import type { ModelPreprocess, ModelSpec } from './model-spec.js';
import type { ParamRole } from './net-builder.js';
import { NetBuilder } from './net-builder.js';

/**
 * Bring your own backbone: any ONNX image classifier (exported from timm, torchvision, or
 * Keras via tf2onnx) becomes a ModelSpec. The importer reads it (headstart's shape inference on
 * every node), the classifier head is cut at the input of its last Gemm/MatMul (or at `cut`),
 * and the nodes before the cut are rebuilt on a NetBuilder: float initializers that feed a
 * Conv/Gemm/MatMul weight or bias, or a BatchNormalization, become parameters under their own
 * names (trainable, loadable), BatchNormalization follows headstart's train/eval policy, and
 * every other node is copied as it is. Gradients flow through the imported ops by their rules.
 */
export interface OnnxBackboneOptions {
  /** Value name at which to cut (the features); default: the input of the last Gemm/MatMul. */
  cut?: string;
  /** Preprocessing overrides; default: the model's metadata, else ImageNet's. */
  mean?: [number, number, number];
  std?: [number, number, number];
  inputSize?: number;
  resizeSize?: number;
}

/** Is this --model value a path to an ONNX file rather than a zoo name? */
export function isOnnxModelPath(model: string): boolean {
  return model.toLowerCase().endsWith('.onnx');
}

const WEIGHT_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
const BN_ROLES: ParamRole[] = ['bn_weight', 'bn_bias', 'running_mean', 'running_var'];

/** What a float initializer is to its first consumer, or undefined when it stays a constant. */
function paramRole(src: Graph, name: string): ParamRole | undefined {
  const t = src.initializers.get(name);
  if (!t || t.dtype !== 'float32') return undefined;
  return paramRoleOfValue(src, name);
}

function paramRoleOfValue(src: Graph, name: string): ParamRole | undefined {
  for (const n of src.nodes) {
    const k = n.inputs.indexOf(name);
    if (k < 0) continue;
    // Exporters share an initializer through Identity nodes: its role is the Identity's.
    if (n.op === 'Identity') return paramRoleOfValue(src, n.outputs[0]);
    if (n.op === 'BatchNormalization' && k >= 1) return BN_ROLES[k - 1];
    if (WEIGHT_OPS.has(n.op) && k === 1) return 'weight';
    if ((n.op === 'Conv' || n.op === 'ConvTranspose' || n.op === 'Gemm') && k === 2) return 'bias';
  }
  return undefined;
}

/** The features value: `cut`, or the data input of the last Gemm/MatMul (the classifier). */
function findCut(src: Graph, cut?: string): string {
  if (cut !== undefined) {
    if (!src.has(cut)) {
      const sample = src.nodes
        .slice(-8)
        .map((n) => n.outputs[0])
        .join(', ');
      throw new ConfigError('E_BAD_OPTION', `--cut \`${cut}\` is not a value of the ONNX graph`, { hint: `value names near the end of the graph: ${sample}` });
    }
    return cut;
  }
  for (let i = src.nodes.length - 1; i >= 0; i--) {
    const n = src.nodes[i];
    if (n.op === 'Gemm' || n.op === 'MatMul') return n.inputs[0];
  }
  throw new ConfigError('E_BAD_OPTION', 'The ONNX model has no Gemm or MatMul node to cut its classifier at', { hint: 'name the features value with --cut <value name>' });
}

/** The nodes the cut value depends on, in graph order. */
function nodesBefore(src: Graph, cut: string): Node[] {
  const producer = new Map<string, Node>();
  for (const n of src.nodes) for (const o of n.outputs) producer.set(o, n);
  const needed = new Set<Node>();
  const stack = [cut];
  while (stack.length > 0) {
    const n = producer.get(stack.pop()!);
    if (!n || needed.has(n)) continue;
    needed.add(n);
    stack.push(...n.inputs.filter(Boolean));
  }
  return src.nodes.filter((n) => needed.has(n));
}

/** Rebuilds the imported nodes up to `cut` on `b`, from `images`; returns the features [N, D]. */
function buildImportedFeatures(b: NetBuilder, src: Graph, images: string, cut: string): string {
  const g = b.g;
  const map = new Map<string, string>([[src.inputs[0].name, images]]);
  const value = (name: string): string => {
    if (name === '') return '';
    const have = map.get(name);
    if (have) return have;
    const t = src.initializers.get(name);
    if (!t) throw new GraphError('E_BAD_GRAPH', `The imported graph reads \`${name}\`, which is neither its image input nor a constant`, { hint: 'a backbone takes one image input' });
    const role = paramRole(src, name);
    const out = role ? b.param(name, [...t.shape], role, { kind: 'zeros' }, role === 'running_mean' || role === 'running_var' ? false : undefined) : g.initializer(g.uniqueName(name), t);
    map.set(name, out);
    return out;
  };
  for (const n of nodesBefore(src, cut)) {
    if (n.op === 'BatchNormalization') {
      const [x, ...ps] = n.inputs;
      const [scale, bias] = [value(ps[0]), value(ps[1])];
      const training = b.training && !b.options.freezeBn && (b.isTrainable(scale) || b.isTrainable(bias));
      const stat = (name: string, role: ParamRole) => {
        if (!map.has(name)) map.set(name, b.param(name, [...src.shape(name)], role, { kind: role === 'running_var' ? 'ones' : 'zeros' }, training));
        return map.get(name)!;
      };
      const mean = stat(ps[2], 'running_mean');
      const variance = stat(ps[3], 'running_var');
      // torch's momentum is 1 - ONNX's; headstart's policy (--bn-momentum) wins when set.
      const momentum = b.options.bnMomentum ?? 1 - floatAttr(n, 'momentum', 0.9);
      const r = batchNorm(g, value(x), { scale, bias, mean, variance }, { training, momentum, epsilon: floatAttr(n, 'epsilon', 1e-5) });
      if (r.runningMean && r.runningVar) {
        b.runningUpdates.set(mean, r.runningMean);
        b.runningUpdates.set(variance, r.runningVar);
      }
      map.set(n.outputs[0], r.y);
      continue;
    }
    if (n.op === 'Dropout') {
      map.set(n.outputs[0], b.dropout(value(n.inputs[0]), n.inputs[1] ? (src.constantFloats(n.inputs[1])?.[0] ?? 0.5) : 0.5));
      continue;
    }
    const outs = g.node(n.op, n.inputs.map(value), structuredClone(n.attrs), { outputs: n.outputs.length, name: n.name });
    n.outputs.forEach((o, k) => map.set(o, outs[k]));
  }
  let features = value(cut);
  const shape = g.shape(features);
  if (shape.length === 4 && shape[2] === 1 && shape[3] === 1) features = g.op('Flatten', [features], { axis: 1 });
  else if (shape.length !== 2)
    throw new GraphError('E_SHAPE_MISMATCH', `The cut value \`${cut}\` has shape [${shape}]; a backbone's features are [N, D]`, { hint: 'cut at the pooled features (--cut <value name>)' });
  return features;
}

/**
 * Names, before training starts, an op on the trainable path that has no gradient rule:
 * every node between the image input and the features whose op lacks one.
 */
function nodesWithoutGradient(src: Graph, cut: string): Node[] {
  return nodesBefore(src, cut).filter((n) => n.op !== 'BatchNormalization' && n.op !== 'Dropout' && !getOp(n.op).grad && n.inputs.some((i) => i !== '' && !src.initializers.has(i)));
}

function metadataTriple(v: string | undefined): [number, number, number] | undefined {
  if (!v) return undefined;
  const parts = v
    .replace(/[[\]]/g, '')
    .split(/[,\s]+/)
    .filter(Boolean)
    .map(Number);
  return parts.length === 3 && parts.every(Number.isFinite) ? (parts as [number, number, number]) : undefined;
}

/**
 * Preprocessing: options, then the model's metadata (`mean`, `std`, `input_size`, `resize_size`),
 * then its input shape, then ImageNet's (torchvision's evaluation transform). `assumed` says
 * which values were guessed and why.
 */
function preprocessOf(metadata: Record<string, string>, inputShape: number[], o: OnnxBackboneOptions): { preprocess: ModelPreprocess; assumed: string[] } {
  const fromFile = inputShape.length === 4 && inputShape[2] > 0 ? inputShape[2] : undefined;
  const inputSize = o.inputSize ?? (Number(metadata.input_size) || fromFile || 224);
  const resizeSize = o.resizeSize ?? (Number(metadata.resize_size) || Math.round((inputSize * 256) / 224));
  const mean = o.mean ?? metadataTriple(metadata.mean);
  const std = o.std ?? metadataTriple(metadata.std);
  const assumed: string[] = [];
  if (!mean || !std) {
    const which = [!mean && '--mean', !std && '--std'].filter(Boolean).join(' and ');
    assumed.push(
      `normalisation: assumed ImageNet's mean [${IMAGENET_PREPROCESS_MODEL.mean.join(', ')}] and std [${IMAGENET_PREPROCESS_MODEL.std.join(', ')}] (the file records none; most pretrained ONNX classifiers use them): pass ${which} if it was trained otherwise`,
    );
  }
  if (o.inputSize === undefined && !Number(metadata.input_size) && !fromFile)
    assumed.push(`input size: assumed 224 (the model's input shape has no fixed side and the file records none): pass --input-size if it expects another`);
  if (o.resizeSize === undefined && !Number(metadata.resize_size))
    assumed.push(`resize side: assumed ${resizeSize} before the ${inputSize} centre crop (torchvision's 256/224 ratio): pass --resize-size to change it`);
  return {
    preprocess: { inputSize, resizeSize, mean: mean ?? IMAGENET_PREPROCESS_MODEL.mean, std: std ?? IMAGENET_PREPROCESS_MODEL.std, interpolation: 'bilinear' },
    assumed,
  };
}

/** A ModelSpec for an ONNX classifier file: its backbone up to the cut, a new `fc` head. */
export function onnxBackboneSpec(file: string, options: OnnxBackboneOptions = {}): ModelSpec {
  const { graph: src, metadata } = readOnnxFile(file);
  const images = src.inputs.filter((i) => i.dtype === 'float32');
  if (src.inputs.length !== 1 || images.length !== 1 || src.shape(images[0].name).length !== 4) {
    throw new ConfigError('E_BAD_OPTION', `\`${file}\` takes inputs ${src.inputs.map((i) => `${i.name} [${i.shape}]`).join(', ')}; a backbone takes one float image batch [N, 3, H, W]`, {
      hint: 'export the classifier with a single NCHW image input',
    });
  }
  const cut = findCut(src, options.cut);
  const missing = nodesWithoutGradient(src, cut);
  const { preprocess, assumed } = preprocessOf(metadata, src.shape(images[0].name), options);
  const { dim, params } = probeBackbone(src, cut, preprocess.inputSize);
  const headName = params.some((p) => p.startsWith('fc.')) ? 'classifier_head' : 'fc';
  return {
    name: `onnx:${path.basename(file)}`,
    description: `ONNX classifier ${file}, cut at \`${cut}\` (${dim}-d features)`,
    features: (b, x) => {
      // Autodiff would refuse the first such node; this names all of them, before any step.
      if (b.training && missing.length > 0 && params.some((p) => b.options.trainable?.(p) ?? true)) {
        const names = missing.map((n) => `${n.op} (node \`${n.name}\`)`).join(', ');
        throw new GraphError('E_NO_GRADIENT', `Fine-tuning ${file} needs gradients through ops without a gradient rule: ${names}`, {
          hint: 'use --mode features, or freeze the layers before these nodes',
        });
      }
      return buildImportedFeatures(b, src, x, cut);
    },
    featureDim: dim,
    head: { name: headName, dropout: 0 },
    stages: [params[0] ?? headName, headName],
    preprocess,
    ...(assumed.length ? { assumedPreprocess: assumed } : {}),
    weights: [],
    builtinWeights: {
      id: `onnx:${path.resolve(file)}`,
      description: `weights stored in ${file}`,
      license: 'as the model file',
      load: async () => {
        const out: NamedTensors = new Map();
        for (const p of params) out.set(p, src.initializers.get(p)!);
        return out;
      },
    },
  };
}

/** The declared parameters and the feature size, found by building the backbone once. */
function probeBackbone(src: Graph, cut: string, inputSize: number): { dim: number; params: string[] } {
  const g = new Graph();
  const b = new NetBuilder(g, { mode: 'eval' });
  const f = buildImportedFeatures(b, src, g.input('images', 'float32', [1, 3, inputSize, inputSize]), cut);
  return { dim: g.shape(f)[1], params: b.params.map((p) => p.name) };
}
