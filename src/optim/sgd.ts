/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
 * with torch.optim.SGD's (1.13) update rule:
 *
 *   d = g + wd·p
 *   b = d                         on the parameter's first step with momentum (no dampening)
 *   b = μ·b + (1 − dampening)·d   afterwards
 *   d = nesterov ? d + μ·b : b    (when μ ≠ 0)
 *   p = p − lr·d
 *
 * The loops are plain indexed loops over Float32Arrays with no allocation per step (only a
 * parameter's first momentum step allocates its buffer). Arithmetic is in double and rounds to
 * float32 on store; scalars are rounded to float32 first, as torch's float32 kernels use them.
 */
import { z } from 'zod';
import { ConfigError, TrainingError } from '../errors.js';
import { loadBuffer, ParamOptimizer, type Param, type ParamGroup, type ParamGroupInput, type StateValue } from './optimizer.js';
import { parseOptions } from './parse-options.js';

const SGDHyperSchema = z.strictObject({
  lr: z.number().min(0),
  momentum: z.number().min(0),
  dampening: z.number(),
  nesterov: z.boolean(),
  weightDecay: z.number().min(0),
});
export type SGDHyper = z.infer<typeof SGDHyperSchema>;

/** SGD's options; defaults are torch's (no momentum). `lr` may be left to the groups. */
export const SGDOptionsSchema = z.strictObject({
  lr: z.number().min(0).optional().meta({ help: 'learning rate' }),
  momentum: z.number().min(0).default(0).meta({ help: 'SGD momentum', placeholder: 'X' }),
  dampening: z.number().default(0).meta({ help: 'SGD dampening of the momentum', placeholder: 'X' }),
  nesterov: z.boolean().default(false).meta({ help: 'SGD with Nesterov momentum' }),
  weightDecay: z.number().min(0).default(0).meta({ help: 'L2 weight decay (AdamW: decoupled)', placeholder: 'X' }),
});
export type SGDOptions = z.input<typeof SGDOptionsSchema>;
export type SGDParamGroup = ParamGroupInput<SGDHyper>;

interface SGDState {
  momentumBuffer: Float32Array;
}

const f32 = Math.fround;

export class SGD extends ParamOptimizer<SGDHyper, SGDState> {
  readonly type = 'sgd' as const;

  constructor(groups: readonly SGDParamGroup[], options?: SGDOptions) {
    super('SGD', groups, parseOptions(SGDOptionsSchema, options, 'SGD'), SGDHyperSchema);
  }

  protected override checkGroup(g: SGDHyper, where: string): void {
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `${where}: nesterov needs momentum > 0 and dampening 0, found momentum ${g.momentum}, dampening ${g.dampening}`, {
        hint: 'set momentum (e.g. 0.9) and dampening 0, or turn nesterov off',
      });
    }
  }

  protected update(param: Param, grad: Float32Array, group: ParamGroup<SGDHyper>): void {
    const lr = f32(group.lr);
    const wd = f32(group.weightDecay);
    const native = this.native;
    if (group.momentum === 0) {
      if (native) native.sgd(param.data, grad, null, lr, wd, 0, 1, false, false);
      else sgdPlain(param.data, grad, lr, wd);
      return;
    }
    const mu = f32(group.momentum);
    const s = this.state.get(param.name);
    if (s === undefined) {
      const buf = new Float32Array(param.data.length);
      this.state.set(param.name, { momentumBuffer: buf });
      if (native) native.sgd(param.data, grad, buf, lr, wd, mu, 1, group.nesterov, true);
      else sgdMomentumFirst(param.data, grad, buf, lr, wd, mu, group.nesterov);
    } else {
      const c = f32(1 - group.dampening);
      if (native) native.sgd(param.data, grad, s.momentumBuffer, lr, wd, mu, c, group.nesterov, false);
      else sgdMomentum(param.data, grad, s.momentumBuffer, lr, wd, mu, c, group.nesterov);
    }
  }

  getMomentum(): number[] {
    return this.paramGroups.map((g) => g.momentum);
  }

  setMomentum(values: readonly number[]): void {
    this.checkPerGroup(values, 'setMomentum');
    this.paramGroups.forEach((g, i) => (g.momentum = values[i]));
  }

  protected saveState(s: SGDState): Record<string, StateValue> {
    return { momentumBuffer: new Float32Array(s.momentumBuffer) };
  }

  protected loadState(raw: Record<string, unknown>, param: Param, where: string): SGDState {
    const extra = Object.keys(raw).filter((k) => k !== 'momentumBuffer');
    if (extra.length > 0) throw new TrainingError('E_BAD_CHECKPOINT', `${where}: unexpected SGD state keys ${extra.join(', ')}`);
    return { momentumBuffer: loadBuffer(raw.momentumBuffer, param.data.length, where, 'momentumBuffer') };
  }
}

// The hot loops are unrolled by 4: V8 does not vectorise, and unrolling cuts its per-iteration
// overhead (bounds and interrupt checks): about a third faster here. wd·p is always added: with wd = 0
// it is exact for finite parameters, and a branch in the loop costs more than the multiply.

function sgdPlain(p: Float32Array, g: Float32Array, lr: number, wd: number): void {
  const n = p.length;
  const n4 = n - (n & 3);
  let i = 0;
  for (; i < n4; i += 4) {
    p[i] -= lr * (g[i] + wd * p[i]);
    p[i + 1] -= lr * (g[i + 1] + wd * p[i + 1]);
    p[i + 2] -= lr * (g[i + 2] + wd * p[i + 2]);
    p[i + 3] -= lr * (g[i + 3] + wd * p[i + 3]);
  }
  for (; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
}

/** First momentum step: the buffer starts as the gradient itself (torch's clone), undamped. */
function sgdMomentumFirst(p: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, mu: number, nesterov: boolean): void {
  const k = nesterov ? 1 + mu : 1;
  const n = p.length;
  for (let i = 0; i < n; i++) {
    const d = g[i] + wd * p[i];
    buf[i] = d;
    p[i] -= lr * k * d;
  }
}

function sgdMomentum(p: Float32Array, g: Float32Array, buf: Float32Array, lr: number, wd: number, mu: number, c: number, nesterov: boolean): void {
  const n = p.length;
  const n4 = n - (n & 3);
  let i = 0;
  if (nesterov) {
    for (; i < n4; i += 4) {
      let d = g[i] + wd * p[i];
      let b = mu * buf[i] + c * d;
      buf[i] = b;
      p[i] -= lr * (d + mu * b);
      d = g[i + 1] + wd * p[i + 1];
      b = mu * buf[i + 1] + c * d;
      buf[i + 1] = b;
      p[i + 1] -= lr * (d + mu * b);
      d = g[i + 2] + wd * p[i + 2];
      b = mu * buf[i + 2] + c * d;
      buf[i + 2] = b;
      p[i + 2] -= lr * (d + mu * b);
      d = g[i + 3] + wd * p[i + 3];
      b = mu * buf[i + 3] + c * d;
      buf[i + 3] = b;
      p[i + 3] -= lr * (d + mu * b);
    }
    for (; i < n; i++) {
      const d = g[i] + wd * p[i];
      const b = mu * buf[i] + c * d;
      buf[i] = b;
      p[i] -= lr * (d + mu * b);
    }
  } else {
    for (; i < n4; i += 4) {
      let b = mu * buf[i] + c * (g[i] + wd * p[i]);
      buf[i] = b;
      p[i] -= lr * b;
      b = mu * buf[i + 1] + c * (g[i + 1] + wd * p[i + 1]);
      buf[i + 1] = b;
      p[i + 1] -= lr * b;
      b = mu * buf[i + 2] + c * (g[i + 2] + wd * p[i + 2]);
      buf[i + 2] = b;
      p[i + 2] -= lr * b;
      b = mu * buf[i + 3] + c * (g[i + 3] + wd * p[i + 3]);
      buf[i + 3] = b;
      p[i + 3] -= lr * b;
    }
    for (; i < n; i++) {
      const b = mu * buf[i] + c * (g[i] + wd * p[i]);
      buf[i] = b;
      p[i] -= lr * b;
    }
  }
}
