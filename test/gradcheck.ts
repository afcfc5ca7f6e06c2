/** Finite-difference gradient check of one GradCase through ONNX Runtime (shared by tests). */
import { appendBackward } from '../src/onnx/autodiff.js';
import { Graph } from '../src/onnx/graph.js';
import type { GradCase } from '../src/onnx/op-registry.js';
import '../src/onnx/ops/index.js';
import { serializeModel } from '../src/onnx/serialize.js';
import { Session } from '../src/engine/session.js';
import type { HostTensor } from '../src/tensor.js';
import { numel } from '../src/tensor.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Distinct values (no ties for MaxPool), away from 0 (no ReLU kink), shuffled. */
function sample(n: number, kind: GradCase['sample'], scale: number, rand: () => number, which: number): Float32Array {
  const values = Array.from({ length: n }, (_, k) => {
    const u = (k + 0.5 + 0.1234567 + 0.3131 * which) / (n + 1); // (0, 1]
    return kind === 'positive' ? 0.5 + u : (u < 0.5 ? -1 : 1) * (0.1 + 1.8 * Math.abs(u - 0.5));
  });
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return Float32Array.from(values, (v) => v * scale);
}

function build(c: GradCase, withBackward: boolean, weights: Float32Array | undefined) {
  const g = new Graph();
  const inputs = c.inputShapes.map((s, i) => g.input(`x${i}`, 'float32', s));
  const y = c.build(g, inputs);
  const yShape = g.shape(y);
  const w = g.floats(weights ?? new Float32Array(numel(yShape)).fill(1), yShape);
  const loss = g.op('ReduceSum', [g.op('Mul', [y, w])], { keepdims: 0 });
  g.output(g.alias(loss, 'loss'));
  const wrt = (c.wrt ?? inputs.map((_, i) => i)).map((i) => inputs[i]);
  let grads = new Map<string, string>();
  if (withBackward) {
    grads = appendBackward(g, loss, wrt).gradients;
    for (const [p, gname] of grads) g.output(g.alias(gname, `grad_${p}`));
  }
  return { g, yShape, wrt, grads };
}

export interface GradCheckResult {
  maxError: number;
  maxGrad: number;
  worst: string;
}

export async function gradCheck(c: GradCase, seed = 1): Promise<GradCheckResult> {
  const rand = lcg(seed);
  const probe = build(c, false, undefined);
  const weights = Float32Array.from({ length: numel(probe.yShape) }, () => rand() * 2 - 1);
  const fwd = build(c, false, weights);
  const bwd = build(c, true, weights);
  const values: Record<string, HostTensor> = {};
  c.inputShapes.forEach((s, i) => {
    values[`x${i}`] = { dtype: 'float32', shape: s, data: sample(numel(s), c.sample, c.scale ?? 1, rand, i) };
  });
  const fs = await Session.create(serializeModel(fwd.g), { threads: 1 });
  const bs = await Session.create(serializeModel(bwd.g), { threads: 1 });
  const analytic = await bs.run(values);
  const eps = 1e-3 * (c.scale ?? 1);
  let maxError = 0;
  let maxGrad = 0;
  let worst = '';
  for (const p of bwd.wrt) {
    const grad = analytic[`grad_${p}`]?.data as Float32Array | undefined;
    if (!grad) throw new Error(`no gradient produced for ${p}`);
    const x = values[p].data as Float32Array;
    for (let k = 0; k < x.length; k++) {
      const orig = x[k];
      x[k] = orig + eps;
      const up = ((await fs.run(values)).loss.data as Float32Array)[0];
      x[k] = orig - eps;
      const down = ((await fs.run(values)).loss.data as Float32Array)[0];
      x[k] = orig;
      const numeric = (up - down) / (2 * eps);
      maxGrad = Math.max(maxGrad, Math.abs(numeric));
      const err = Math.abs(numeric - grad[k]);
      if (err > maxError) {
        maxError = err;
        worst = `${p}[${k}]: numeric ${numeric.toFixed(5)} vs analytic ${grad[k].toFixed(5)}`;
      }
    }
  }
  await fs.release();
  await bs.release();
  return { maxError, maxGrad, worst };
}
