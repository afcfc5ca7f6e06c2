import { GraphError } from '../../errors.js';
import type { Graph } from '../graph.js';
import { floatAttr, intAttr, registerOp, staticShape } from '../op-registry.js';
import { sumOverNHW } from './sum-over-nhw.js';

/**
 * BatchNormalization in training mode (batch statistics, running-stat update) and in
 * inference mode (running statistics). ORT's CPU kernel is not trusted in training mode: it
 * writes running statistics into its mean/var inputs (DESIGN.md), and with momentum 0 its
 * output was found not to be normalised at all. So training mode computes the batch mean
 * and biased variance with ReduceMean / ReduceSumSquare and feeds them to an inference-mode
 * BatchNormalization (one fused pass); a node note tells the gradient rule that its mean and
 * variance are the batch's own, so it differentiates through them.
 */
export interface BatchNormParams {
  scale: string;
  bias: string;
  mean: string;
  variance: string;
}

export interface BatchNormOptions {
  training: boolean;
  /** torch's momentum: new = (1 - m) * running + m * batch. */
  momentum?: number;
  epsilon?: number;
}

export interface BatchNormResult {
  y: string;
  /** Updated running statistics (training mode only). */
  runningMean?: string;
  runningVar?: string;
}

export function batchNorm(g: Graph, x: string, p: BatchNormParams, options: BatchNormOptions): BatchNormResult {
  const epsilon = options.epsilon ?? 1e-5;
  if (!options.training) {
    return { y: g.op('BatchNormalization', [x, p.scale, p.bias, p.mean, p.variance], { epsilon: { float: epsilon } }) };
  }
  const c = g.shape(x)[1];
  const shape = staticShape(g, x);
  const count = shape[0] * shape[2] * shape[3];
  const batchMean = g.op('Mul', [sumOverNHW(g, x), g.scalar(1 / count)]);
  const centred = g.op('Sub', [x, perChannel(g, batchMean, c)]);
  const batchVar = g.op('Mul', [sumOverNHW(g, centred, 'ReduceSumSquare'), g.scalar(1 / count)]);
  const [y] = g.node('BatchNormalization', [x, p.scale, p.bias, batchMean, batchVar], { epsilon: { float: epsilon } });
  g.notes.set(g.nodes[g.nodes.length - 1].name, { batchStatistics: true });
  const m = options.momentum ?? 0.1;
  const unbiased = g.op('Mul', [batchVar, g.scalar(count / Math.max(count - 1, 1))]);
  const blend = (running: string, batch: string) => g.op('Add', [g.op('Mul', [running, g.scalar(1 - m)]), g.op('Mul', [batch, g.scalar(m)])]);
  return { y, runningMean: blend(p.mean, batchMean), runningVar: blend(p.variance, unbiased) };
}

/** Per-channel [C] -> [1, C, 1, 1] for broadcasting against NCHW. */
function perChannel(g: Graph, v: string, c: number): string {
  return g.op('Reshape', [v, g.ints([1, c, 1, 1])]);
}

registerOp({
  type: 'BatchNormalization',
  infer: (g, node) => {
    const x = g.info(node.inputs[0]);
    const c = g.shape(node.inputs[1]);
    const outs = [{ dtype: x.dtype, shape: [...x.shape] }];
    if (intAttr(node, 'training_mode', 0) === 1) outs.push({ dtype: x.dtype, shape: [...c] }, { dtype: x.dtype, shape: [...c] });
    return outs;
  },
  grad: (g, node, [dy], needs) => {
    const [x, scale] = node.inputs;
    const eps = floatAttr(node, 'epsilon', 1e-5);
    const shape = staticShape(g, x);
    const c = shape[1];
    const training = g.notes.get(node.name)?.batchStatistics === true;
    if (intAttr(node, 'training_mode', 0) === 1)
      throw new GraphError('E_NO_GRADIENT', `BatchNormalization node \`${node.name}\`: no gradient rule for ORT's training_mode=1`, { hint: 'build it with batchNorm()' });
    const [, , , mean, variance] = node.inputs;
    const invstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
    // Centred first: sum(dy * x) - mean * sum(dy) cancels catastrophically when |mean| >> std
    // (1e-3 relative error in dScale on a mostly constant 224-px map; test/batchnorm-precision).
    const centred = g.op('Sub', [x, perChannel(g, mean, c)]);
    const sumDy = sumOverNHW(g, dy!);
    const dScale = g.op('Mul', [invstd, sumOverNHW(g, g.op('Mul', [dy!, centred]))]);
    const a = g.op('Mul', [scale, invstd]);
    let dx: string | undefined;
    if (needs[0]) {
      if (!training) dx = g.op('Mul', [dy!, perChannel(g, a, c)]);
      else {
        // dx = a * (dy - sum(dy)/M - xhat * dScale/M) = a*dy + b*(x - mean) + k, per channel.
        const mInv = 1 / (shape[0] * shape[2] * shape[3]);
        const b = g.op('Mul', [g.op('Neg', [g.op('Mul', [a, g.op('Mul', [dScale, invstd])])]), g.scalar(mInv)]);
        const k = g.op('Neg', [g.op('Mul', [a, g.op('Mul', [sumDy, g.scalar(mInv)])])]);
        const ax = g.op('Mul', [dy!, perChannel(g, a, c)]);
        const bx = g.op('Mul', [centred, perChannel(g, b, c)]);
        dx = g.op('Add', [g.op('Add', [ax, bx]), perChannel(g, k, c)]);
      }
    }
    return [dx, needs[1] ? dScale : undefined, needs[2] ? sumDy : undefined, undefined, undefined];
  },
  gradCases: [
    {
      label: 'training mode',
      build: (g, [x, s, b]) => {
        const c = g.shape(x)[1];
        const mean = g.floats(new Float32Array(c), [c]);
        const variance = g.floats(new Float32Array(c).fill(1), [c]);
        return batchNorm(g, x, { scale: s, bias: b, mean, variance }, { training: true }).y;
      },
      inputShapes: [[3, 2, 2, 2], [2], [2]],
      tolerance: 5e-2,
    },
    {
      label: 'inference mode',
      build: (g, [x, s, b]) => {
        const mean = g.floats([0.1, -0.2], [2]);
        const variance = g.floats([0.5, 2], [2]);
        return batchNorm(g, x, { scale: s, bias: b, mean, variance }, { training: false }).y;
      },
      inputShapes: [[2, 2, 2, 2], [2], [2]],
    },
  ],
});
