/**
 * Adam and AdamW with torch.optim's (1.13, single-tensor) update rules. Per parameter, with its
 * own step count t (a parameter skipped on some steps has a smaller t, as in torch):
 *
 *   Adam:  g = g + wd·p                  (L2 penalty added to the gradient)
 *   AdamW: p = p·(1 − lr·wd)             (decoupled decay)
 *   m = β1·m + (1 − β1)·g
 *   v = β2·v + (1 − β2)·g²
 *   v̂ = amsgrad ? max(v̂, v) : v
 *   p = p − lr/(1 − β1^t) · m / (√v̂ / √(1 − β2^t) + ε)
 *
 * Plain indexed loops over Float32Arrays, no allocation per step (a parameter's first step
 * allocates its moments). Arithmetic is in double, rounded to float32 on store.
 */
import { z } from 'zod';
import { TrainingError } from '../errors.js';
import { loadBuffer, ParamOptimizer, type Param, type ParamGroup, type ParamGroupInput, type StateValue } from './optimizer.js';
import { parseOptions } from './parse-options.js';

const Beta = z.number().min(0).lt(1);

const AdamHyperSchema = z.strictObject({
  lr: z.number().min(0),
  betas: z.tuple([Beta, Beta]),
  eps: z.number().min(0),
  weightDecay: z.number().min(0),
  amsgrad: z.boolean(),
});
export type AdamHyper = z.infer<typeof AdamHyperSchema>;

function adamOptionsSchema(weightDecay: number) {
  return z.strictObject({
    lr: z.number().min(0).default(1e-3),
    betas: z.tuple([Beta, Beta]).default([0.9, 0.999]).meta({ help: "Adam's (beta1, beta2)", placeholder: 'B1,B2' }),
    eps: z.number().min(0).default(1e-8).meta({ help: "Adam's epsilon", placeholder: 'X' }),
    weightDecay: z.number().min(0).default(weightDecay).meta({ help: 'L2 weight decay (AdamW: decoupled)', placeholder: 'X' }),
    amsgrad: z.boolean().default(false).meta({ help: 'Adam with the AMSGrad maximum' }),
  });
}
/** Adam's options; defaults are torch's (weight decay 0). */
export const AdamOptionsSchema = adamOptionsSchema(0);
/** AdamW's options; defaults are torch's (weight decay 1e-2). */
export const AdamWOptionsSchema = adamOptionsSchema(1e-2);
export type AdamOptions = z.input<typeof AdamOptionsSchema>;
export type AdamParamGroup = ParamGroupInput<AdamHyper>;

interface AdamState {
  step: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  /** Only with amsgrad. */
  maxExpAvgSq?: Float32Array;
}

const f32 = Math.fround;

abstract class AdamFamily extends ParamOptimizer<AdamHyper, AdamState> {
  protected abstract readonly decoupled: boolean;

  protected update(param: Param, grad: Float32Array, group: ParamGroup<AdamHyper>): void {
    let s = this.state.get(param.name);
    if (s === undefined) {
      const n = param.data.length;
      s = { step: 0, expAvg: new Float32Array(n), expAvgSq: new Float32Array(n) };
      if (group.amsgrad) s.maxExpAvgSq = new Float32Array(n);
      this.state.set(param.name, s);
    } else if (group.amsgrad && s.maxExpAvgSq === undefined) {
      s.maxExpAvgSq = new Float32Array(param.data.length);
    }
    s.step += 1;
    const [beta1, beta2] = group.betas;
    const bc1 = 1 - beta1 ** s.step;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** s.step);
    const stepSize = f32(group.lr / bc1);
    const wd = group.weightDecay;
    const args = [
      param.data,
      grad,
      s.expAvg,
      s.expAvgSq,
      group.amsgrad ? s.maxExpAvgSq! : null,
      f32(beta1),
      f32(1 - beta1),
      f32(beta2),
      f32(1 - beta2),
      this.decoupled ? 0 : f32(wd),
      this.decoupled && wd !== 0 ? f32(1 - group.lr * wd) : 1,
      stepSize,
      1 / f32(bc2Sqrt),
      f32(group.eps),
    ] as const;
    if (this.native) this.native.adam(...args);
    else adamKernel(...args);
  }

  getMomentum(): number[] {
    return this.paramGroups.map((g) => g.betas[0]);
  }

  setMomentum(values: readonly number[]): void {
    this.checkPerGroup(values, 'setMomentum');
    this.paramGroups.forEach((g, i) => (g.betas = [values[i], g.betas[1]]));
  }

  protected saveState(s: AdamState): Record<string, StateValue> {
    const out: Record<string, StateValue> = {
      step: s.step,
      expAvg: new Float32Array(s.expAvg),
      expAvgSq: new Float32Array(s.expAvgSq),
    };
    if (s.maxExpAvgSq) out.maxExpAvgSq = new Float32Array(s.maxExpAvgSq);
    return out;
  }

  protected loadState(raw: Record<string, unknown>, param: Param, where: string): AdamState {
    const extra = Object.keys(raw).filter((k) => !['step', 'expAvg', 'expAvgSq', 'maxExpAvgSq'].includes(k));
    if (extra.length > 0) throw new TrainingError('E_BAD_CHECKPOINT', `${where}: unexpected ${this.type} state keys ${extra.join(', ')}`);
    if (typeof raw.step !== 'number' || !Number.isInteger(raw.step) || raw.step < 0) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: \`step\` must be a non-negative integer, found ${String(raw.step)}`);
    }
    const n = param.data.length;
    const s: AdamState = {
      step: raw.step,
      expAvg: loadBuffer(raw.expAvg, n, where, 'expAvg'),
      expAvgSq: loadBuffer(raw.expAvgSq, n, where, 'expAvgSq'),
    };
    if (raw.maxExpAvgSq !== undefined) s.maxExpAvgSq = loadBuffer(raw.maxExpAvgSq, n, where, 'maxExpAvgSq');
    return s;
  }
}

/** Adam: weight decay is an L2 term added to the gradient. */
export class Adam extends AdamFamily {
  readonly type = 'adam' as const;
  protected readonly decoupled = false;

  constructor(groups: readonly AdamParamGroup[], options?: AdamOptions) {
    super('Adam', groups, parseOptions(AdamOptionsSchema, options, 'Adam'), AdamHyperSchema);
  }
}

/** AdamW: weight decay shrinks the parameter directly by lr·wd, outside the moments. */
export class AdamW extends AdamFamily {
  readonly type = 'adamw' as const;
  protected readonly decoupled = true;

  constructor(groups: readonly AdamParamGroup[], options?: AdamOptions) {
    super('AdamW', groups, parseOptions(AdamWOptionsSchema, options, 'AdamW'), AdamHyperSchema);
  }
}

/**
 * One pass over a parameter. `l2` > 0 adds l2·p to the gradient (Adam); `decay` < 1 scales p
 * first (AdamW); `vmax` is the amsgrad running maximum or null. The decayed parameter is
 * rounded to float32 before the update, as torch's separate `mul_` rounds it (AdamW then stays
 * within ~1e-7 of torch instead of ~5e-7). Unrolled by 4 (V8 does not vectorise; unrolling
 * cuts its per-iteration overhead); l2 and decay are applied even when neutral: exact for
 * finite values, and cheaper than a branch in the loop.
 */
function adamKernel(
  p: Float32Array,
  g: Float32Array,
  m: Float32Array,
  v: Float32Array,
  vmax: Float32Array | null,
  b1: number,
  c1: number,
  b2: number,
  c2: number,
  l2: number,
  decay: number,
  stepSize: number,
  invBc2Sqrt: number,
  eps: number,
): void {
  const n = p.length;
  const n4 = n - (n & 3);
  let i = 0;
  if (vmax === null) {
    for (; i < n4; i += 4) {
      {
        const pi = p[i];
        const gi = g[i] + l2 * pi;
        const mi = b1 * m[i] + c1 * gi;
        const vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
      }
      {
        const pi = p[i + 1];
        const gi = g[i + 1] + l2 * pi;
        const mi = b1 * m[i + 1] + c1 * gi;
        const vi = b2 * v[i + 1] + c2 * gi * gi;
        m[i + 1] = mi;
        v[i + 1] = vi;
        p[i + 1] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
      }
      {
        const pi = p[i + 2];
        const gi = g[i + 2] + l2 * pi;
        const mi = b1 * m[i + 2] + c1 * gi;
        const vi = b2 * v[i + 2] + c2 * gi * gi;
        m[i + 2] = mi;
        v[i + 2] = vi;
        p[i + 2] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
      }
      {
        const pi = p[i + 3];
        const gi = g[i + 3] + l2 * pi;
        const mi = b1 * m[i + 3] + c1 * gi;
        const vi = b2 * v[i + 3] + c2 * gi * gi;
        m[i + 3] = mi;
        v[i + 3] = vi;
        p[i + 3] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
      }
    }
    for (; i < n; i++) {
      const pi = p[i];
      const gi = g[i] + l2 * pi;
      const mi = b1 * m[i] + c1 * gi;
      const vi = b2 * v[i] + c2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vi) * invBc2Sqrt + eps);
    }
  } else {
    for (; i < n4; i += 4) {
      {
        const pi = p[i];
        const gi = g[i] + l2 * pi;
        const mi = b1 * m[i] + c1 * gi;
        const vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        const vm = Math.max(vmax[i], vi);
        vmax[i] = vm;
        p[i] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vm) * invBc2Sqrt + eps);
      }
      {
        const pi = p[i + 1];
        const gi = g[i + 1] + l2 * pi;
        const mi = b1 * m[i + 1] + c1 * gi;
        const vi = b2 * v[i + 1] + c2 * gi * gi;
        m[i + 1] = mi;
        v[i + 1] = vi;
        const vm = Math.max(vmax[i + 1], vi);
        vmax[i + 1] = vm;
        p[i + 1] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vm) * invBc2Sqrt + eps);
      }
      {
        const pi = p[i + 2];
        const gi = g[i + 2] + l2 * pi;
        const mi = b1 * m[i + 2] + c1 * gi;
        const vi = b2 * v[i + 2] + c2 * gi * gi;
        m[i + 2] = mi;
        v[i + 2] = vi;
        const vm = Math.max(vmax[i + 2], vi);
        vmax[i + 2] = vm;
        p[i + 2] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vm) * invBc2Sqrt + eps);
      }
      {
        const pi = p[i + 3];
        const gi = g[i + 3] + l2 * pi;
        const mi = b1 * m[i + 3] + c1 * gi;
        const vi = b2 * v[i + 3] + c2 * gi * gi;
        m[i + 3] = mi;
        v[i + 3] = vi;
        const vm = Math.max(vmax[i + 3], vi);
        vmax[i + 3] = vm;
        p[i + 3] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vm) * invBc2Sqrt + eps);
      }
    }
    for (; i < n; i++) {
      const pi = p[i];
      const gi = g[i] + l2 * pi;
      const mi = b1 * m[i] + c1 * gi;
      const vi = b2 * v[i] + c2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const vm = Math.max(vmax[i], vi);
      vmax[i] = vm;
      p[i] = f32(pi * decay) - (stepSize * mi) / (Math.sqrt(vm) * invBc2Sqrt + eps);
    }
  }
}
