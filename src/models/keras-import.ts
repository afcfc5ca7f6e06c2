import { GraphError, WeightsError } from '../errors.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { numel, permute } from '../tensor.js';
import type { KerasLayer } from '../weights/tfjs.js';
import type { NetBuilder } from './net-builder.js';

/**
 * Imports a Keras functional model (as TF.js stores it) into a headstart graph, layer by
 * layer through a NetBuilder, so it trains through the same autodiff as the torchvision
 * models. Keras is channels-last; our graphs are NCHW: kernels are permuted on load
 * (`kerasParams`), 'same' padding is computed the TensorFlow way (extra pixel at the end),
 * and a Flatten over spatial positions first moves channels last. Parameter names are
 * `<layer>.weight`, `<layer>.bias`, `<layer>.running_mean`, `<layer>.running_var`.
 */

type Cfg = Record<string, unknown>;

function layerName(l: KerasLayer): string {
  return l.name ?? String(l.config.name);
}

function inboundNames(l: KerasLayer): string[] {
  const nodes = l.inbound_nodes;
  if (!nodes || nodes.length === 0) return [];
  const first = nodes[0];
  // TF.js Keras 2 format: [[[name, nodeIndex, tensorIndex, kwargs], ...]]
  if (Array.isArray(first)) return (first as unknown[][]).map((e) => String(e[0]));
  // Keras 3 format: {args: [{config: {keras_history: [name, ...]}}]}
  const args = (first as { args?: unknown[] }).args ?? [];
  const flat = args.flatMap((a): unknown[] => (Array.isArray(a) ? (a as unknown[]) : [a])) as { config?: { keras_history?: unknown[] } }[];
  return flat.map((a) => String(a.config?.keras_history?.[0]));
}

function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1] ?? v[0])];
  if (typeof v === 'number') return [v, v];
  return [fallback, fallback];
}

/** Pads [top, left, bottom, right] for Keras padding 'valid' or 'same' (TensorFlow's split). */
function kerasPads(padding: unknown, inHW: number[], k: [number, number], s: [number, number], d: [number, number]): [number, number, number, number] {
  if (padding !== 'same') return [0, 0, 0, 0];
  const total = [0, 1].map((i) => {
    const out = Math.ceil(inHW[i] / s[i]);
    return Math.max((out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - inHW[i], 0);
  });
  return [Math.floor(total[0] / 2), Math.floor(total[1] / 2), total[0] - Math.floor(total[0] / 2), total[1] - Math.floor(total[1] / 2)];
}

function activation(b: NetBuilder, x: string, name: unknown, layer: string): string {
  switch (name ?? 'linear') {
    case 'linear':
      return x;
    case 'relu':
      return b.relu(x);
    case 'relu6':
      return b.g.op('Clip', [x, b.g.scalar(0), b.g.scalar(6)]);
    case 'sigmoid':
      return b.g.op('Sigmoid', [x]);
    case 'softmax':
      return b.g.op('Softmax', [x], { axis: 1 });
    case 'swish':
    case 'silu':
      return b.g.op('Mul', [x, b.g.op('Sigmoid', [x])]);
    case 'hard_sigmoid':
      return b.g.op('HardSigmoid', [x], { alpha: 0.2, beta: 0.5 });
    default:
      throw new GraphError('E_UNSUPPORTED_OP', `Keras layer \`${layer}\`: activation \`${String(name)}\` is not supported`, {
        hint: 'supported: linear, relu, relu6, sigmoid, softmax, swish, hard_sigmoid',
      });
  }
}

export interface KerasImportOptions {
  /** Stop at this layer and return its output (e.g. the pooled features before a classifier). */
  until?: string;
}

/** Builds the layers on `b` from an NCHW input and returns the output value of `until` (or the last layer). */
export function buildKerasLayers(b: NetBuilder, layers: readonly KerasLayer[], input: string, options: KerasImportOptions = {}): string {
  const g = b.g;
  const values = new Map<string, string>();
  let last = input;
  for (const layer of layers) {
    const name = layerName(layer);
    const cfg = layer.config as Cfg;
    const ins = inboundNames(layer).map((n) => {
      const v = values.get(n);
      if (!v) throw new GraphError('E_BAD_GRAPH', `Keras layer \`${name}\` reads \`${n}\`, which is not built yet`);
      return v;
    });
    const x = ins[0];
    let out: string;
    switch (layer.class_name) {
      case 'InputLayer':
        out = input;
        break;
      case 'ZeroPadding2D': {
        const p = cfg.padding;
        let pads: number[];
        if (typeof p === 'number') pads = [p, p, p, p];
        else if (Array.isArray(p) && Array.isArray(p[0])) {
          const q = p as number[][];
          pads = [q[0][0], q[1][0], q[0][1], q[1][1]];
        } else pads = [Number((p as number[])[0]), Number((p as number[])[1]), Number((p as number[])[0]), Number((p as number[])[1])];
        out = g.op('Pad', [x, g.ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])]);
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = layer.class_name === 'DepthwiseConv2D';
        const k = pair(cfg.kernel_size, 1);
        const s = pair(cfg.strides, 1);
        const d = pair(cfg.dilation_rate, 1);
        if (k[0] !== k[1] || s[0] !== s[1] || d[0] !== d[1]) throw new GraphError('E_UNSUPPORTED_OP', `Keras layer \`${name}\`: only square kernels, strides and dilations are supported`);
        const inC = g.shape(x)[1];
        const outC = depthwise ? inC * Number(cfg.depth_multiplier ?? 1) : Number(cfg.filters);
        const pads = kerasPads(cfg.padding, g.shape(x).slice(2), k, s, d);
        out = b.conv2d(x, name, outC, { kernel: k[0], stride: s[0], dilation: d[0], padding: pads, groups: depthwise ? inC : Number(cfg.groups ?? 1), bias: cfg.use_bias !== false });
        out = activation(b, out, cfg.activation, name);
        break;
      }
      case 'BatchNormalization':
        if (g.shape(x).length !== 4) throw new GraphError('E_UNSUPPORTED_OP', `Keras layer \`${name}\`: BatchNormalization is supported on 4-D (image) tensors only`);
        // Keras's momentum (0.99, 0.999) is not carried over: the fine-tuning policy sets the
        // rate of the running statistics (src/models/bn-momentum.ts).
        out = b.batchNorm2d(x, name, { eps: Number(cfg.epsilon ?? 1e-3) });
        break;
      case 'ReLU': {
        if (cfg.negative_slope && Number(cfg.negative_slope) !== 0) throw new GraphError('E_UNSUPPORTED_OP', `Keras layer \`${name}\`: leaky ReLU is not supported`);
        const max = cfg.max_value;
        out = max === null || max === undefined ? b.relu(x) : g.op('Clip', [x, g.scalar(0), g.scalar(Number(max))]);
        break;
      }
      case 'Activation':
        out = activation(b, x, cfg.activation, name);
        break;
      case 'Add':
        out = ins.length === 2 ? g.op('Add', ins) : g.op('Sum', ins);
        break;
      case 'Multiply':
        out = ins.slice(1).reduce((acc, v) => g.op('Mul', [acc, v]), ins[0]);
        break;
      case 'Concatenate': {
        const axis = Number(cfg.axis ?? -1);
        const rank = g.shape(x).length;
        const nchwAxis = rank === 4 ? [0, 2, 3, 1][(axis + 4) % 4] : axis;
        out = g.op('Concat', ins, { axis: nchwAxis });
        break;
      }
      case 'GlobalAveragePooling2D':
        out = g.op('Flatten', [g.op('GlobalAveragePool', [x])], { axis: 1 });
        break;
      case 'AveragePooling2D':
      case 'MaxPooling2D': {
        const k = pair(cfg.pool_size, 2);
        const s = pair(cfg.strides ?? cfg.pool_size, 2);
        const hw = g.shape(x).slice(2);
        const pads = kerasPads(cfg.padding, hw, k, s, [1, 1]);
        if (layer.class_name === 'AveragePooling2D' && k[0] === hw[0] && k[1] === hw[1] && pads.every((v) => v === 0)) out = g.op('GlobalAveragePool', [x]);
        else if (layer.class_name === 'AveragePooling2D') {
          if (pads.some((v) => v !== 0)) throw new GraphError('E_UNSUPPORTED_OP', `Keras layer \`${name}\`: average pooling with 'same' padding is not supported`);
          out = g.op('AveragePool', [x], { kernel_shape: k, strides: s });
        } else out = g.op('MaxPool', [x], { kernel_shape: k, strides: s, pads });
        break;
      }
      case 'Flatten': {
        const shape = g.shape(x);
        const spatial = shape.length === 4 && (shape[2] !== 1 || shape[3] !== 1);
        out = g.op('Flatten', [spatial ? g.op('Transpose', [x], { perm: [0, 2, 3, 1] }) : x], { axis: 1 });
        break;
      }
      case 'Dense':
        out = activation(b, b.linear(x, name, Number(cfg.units), cfg.use_bias !== false), cfg.activation, name);
        break;
      case 'Dropout':
        out = b.dropout(x, Number(cfg.rate ?? 0));
        break;
      default:
        throw new GraphError('E_UNSUPPORTED_OP', `Keras layer \`${name}\` is a ${layer.class_name}, which headstart cannot import`, {
          hint: 'supported: InputLayer, ZeroPadding2D, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, Activation, Add, Multiply, Concatenate, GlobalAveragePooling2D, AveragePooling2D, MaxPooling2D, Flatten, Dense, Dropout',
        });
    }
    values.set(name, out);
    last = out;
    if (name === options.until) return out;
  }
  if (options.until) throw new GraphError('E_BAD_OPTION', `Keras model has no layer \`${options.until}\``);
  return last;
}

/** Converts Keras weights (channels-last kernels) to headstart parameters (NCHW, torch layout). */
export function kerasParams(layers: readonly KerasLayer[], weights: NamedTensors, options: KerasImportOptions = {}): NamedTensors {
  const out: NamedTensors = new Map();
  const get = (layer: string, w: string, required = true): HostTensor | undefined => {
    const t = weights.get(`${layer}/${w}`);
    if (!t && required) throw new WeightsError('E_WEIGHTS_MISMATCH', `Keras weights: \`${layer}/${w}\` is missing`, { hint: 'the weight shards do not match the topology' });
    return t;
  };
  for (const layer of layers) {
    const name = layerName(layer);
    const cfg = layer.config as Cfg;
    switch (layer.class_name) {
      case 'Conv2D': {
        out.set(`${name}.weight`, permute(get(name, 'kernel')!, [3, 2, 0, 1]));
        if (cfg.use_bias !== false) out.set(`${name}.bias`, get(name, 'bias')!);
        break;
      }
      case 'DepthwiseConv2D': {
        const k = get(name, 'depthwise_kernel')!; // [kh, kw, in, m]
        const [kh, kw, c, m] = k.shape;
        const t = permute(k, [2, 3, 0, 1]);
        out.set(`${name}.weight`, { ...t, shape: [c * m, 1, kh, kw] });
        if (cfg.use_bias !== false) out.set(`${name}.bias`, get(name, 'bias')!);
        break;
      }
      case 'BatchNormalization': {
        const mean = get(name, 'moving_mean')!;
        const c = numel(mean.shape);
        out.set(`${name}.weight`, get(name, 'gamma', cfg.scale !== false) ?? { dtype: 'float32', shape: [c], data: new Float32Array(c).fill(1) });
        out.set(`${name}.bias`, get(name, 'beta', cfg.center !== false) ?? { dtype: 'float32', shape: [c], data: new Float32Array(c) });
        out.set(`${name}.running_mean`, mean);
        out.set(`${name}.running_var`, get(name, 'moving_variance')!);
        break;
      }
      case 'Dense': {
        out.set(`${name}.weight`, permute(get(name, 'kernel')!, [1, 0]));
        if (cfg.use_bias !== false) out.set(`${name}.bias`, get(name, 'bias')!);
        break;
      }
      default:
        break;
    }
    if (name === options.until) break;
  }
  return out;
}
