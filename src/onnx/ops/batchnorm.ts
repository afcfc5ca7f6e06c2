import type { Graph } from '../graph.js';
import { floatAttr, intAttr, registerOp, staticShape } from '../op-registry.js';

/**
 * BatchNormalization in training mode (batch statistics, running-stat update) and in
 * inference mode (running statistics). ORT's CPU kernel writes running statistics into its
 * mean/var *inputs* in training mode (DESIGN.md), so training mode is fed per-node scratch
 * tensors with momentum 0: its extra outputs are then the batch mean and biased variance,
 * and the running-stat update is done with ordinary ops.
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
  // Never shared: ORT may write into them.
  const scratchMean = g.initializer(g.uniqueName('bn_scratch_mean'), { dtype: 'float32', shape: [c], data: new Float32Array(c) });
  const scratchVar = g.initializer(g.uniqueName('bn_scratch_var'), { dtype: 'float32', shape: [c], data: new Float32Array(c).fill(1) });
  const [y, batchMean, batchVar] = g.node(
    'BatchNormalization',
    [x, p.scale, p.bias, scratchMean, scratchVar],
    { epsilon: { float: epsilon }, momentum: { float: 0 }, training_mode: 1 },
    { outputs: 3 },
  );
  const m = options.momentum ?? 0.1;
  const shape = staticShape(g, x);
  const count = shape[0] * shape[2] * shape[3];
  const unbiased = g.op('Mul', [batchVar, g.scalar(count / Math.max(count - 1, 1))]);
  const blend = (running: string, batch: string) =>
    g.op('Add', [g.op('Mul', [running, g.scalar(1 - m)]), g.op('Mul', [batch, g.scalar(m)])]);
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
    const training = intAttr(node, 'training_mode', 0) === 1;
    const mean = training ? node.outputs[1] : node.inputs[3];
    const variance = training ? node.outputs[2] : node.inputs[4];
    const invstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
    const axes = g.ints([0, 2, 3]);
    const sumDy = g.op('ReduceSum', [dy!, axes], { keepdims: 0 });
    // sum(dy * xhat) = invstd * (sum(dy * x) - mean * sum(dy)), without materialising xhat.
    const sumDyX = g.op('ReduceSum', [g.op('Mul', [dy!, x]), axes], { keepdims: 0 });
    const dScale = g.op('Mul', [invstd, g.op('Sub', [sumDyX, g.op('Mul', [mean, sumDy])])]);
    const a = g.op('Mul', [scale, invstd]);
    let dx: string | undefined;
    if (needs[0]) {
      if (!training) dx = g.op('Mul', [dy!, perChannel(g, a, c)]);
      else {
        // dx = a * (dy - sum(dy)/M - xhat * dScale/M) = a*dy + b*x + k, per channel.
        const mInv = 1 / (shape[0] * shape[2] * shape[3]);
        const b = g.op('Mul', [g.op('Neg', [g.op('Mul', [a, g.op('Mul', [dScale, invstd])])]), g.scalar(mInv)]);
        const k = g.op('Sub', [g.op('Mul', [g.op('Mul', [b, mean]), g.scalar(-1)]), g.op('Mul', [a, g.op('Mul', [sumDy, g.scalar(mInv)])])]);
        const ax = g.op('Mul', [dy!, perChannel(g, a, c)]);
        const bx = g.op('Mul', [x, perChannel(g, b, c)]);
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
