/**
 * What every optimiser shares: parameters updated in place from a map of gradients, parameter
 * groups with their own hyperparameters (discriminative learning rates), and a state dict that
 * a checkpoint can hold and a fresh optimiser can resume from.
 *
 * Semantics follow torch.optim 1.13: hyperparameters live on the groups and may be changed
 * between steps (schedulers do); a parameter without a gradient this step is skipped, as torch
 * skips `p.grad is None`; per-parameter state is created on the first step that has a gradient.
 */
import { z } from 'zod';
import { ConfigError, TrainingError } from '../errors.js';
import { describeZodIssues } from '../zod-issues.js';
import { nativeOptimOrNull, type NativeOptimAddon } from './native-optim.js';
import { parseOptions } from './parse-options.js';

/** A trainable tensor, updated in place by `step`. */
export interface Param {
  readonly name: string;
  readonly data: Float32Array;
}

/** Gradients of one step, by parameter name. A parameter that is absent is not updated. */
export type Gradients = ReadonlyMap<string, Float32Array>;

export type OptimizerType = 'sgd' | 'adam' | 'adamw';

/** Values a state dict holds: JSON-like, with Float32Array buffers (v8.serialize/structuredClone safe). */
export type StateValue = number | boolean | string | number[] | string[] | Float32Array;

export interface OptimizerStateDict {
  type: OptimizerType;
  /** One entry per group, in order: `params` (names) and the group's hyperparameters. */
  groups: Array<{ params: string[] } & Record<string, StateValue>>;
  /** Per-parameter state by parameter name (absent: the parameter never had a gradient). */
  state: Record<string, Record<string, StateValue>>;
}

export interface Optimizer {
  readonly type: OptimizerType;
  /** Number of parameter groups. */
  readonly groupCount: number;
  /** Applies one update to every parameter that has a gradient in `grads`. */
  step(grads: Gradients): void;
  /** Learning rate of each group. */
  getLr(): number[];
  setLr(lrs: readonly number[]): void;
  /** SGD's momentum or Adam's beta1, per group (what one-cycle schedules cycle). */
  getMomentum(): number[];
  setMomentum(values: readonly number[]): void;
  /** A deep copy of hyperparameters and per-parameter state. */
  stateDict(): OptimizerStateDict;
  /** Restores hyperparameters and state saved by `stateDict` (copies the buffers in). */
  loadStateDict(state: OptimizerStateDict): void;
}

/** A group as callers give it: its parameters, and hyperparameters that override the optimiser's. */
export type ParamGroupInput<H> = { params: readonly Param[] } & Partial<H>;

/** A group as the optimiser holds it: every hyperparameter resolved. */
export type ParamGroup<H> = { readonly params: readonly Param[] } & H;

const StateDictSchema = z.object({
  type: z.enum(['sgd', 'adam', 'adamw']),
  groups: z.array(z.looseObject({ params: z.array(z.string()) })),
  state: z.record(z.string(), z.record(z.string(), z.unknown())),
});

/**
 * The shared machinery: group resolution, the step loop over parameters, lr/momentum access
 * and the state dict. Subclasses supply the per-parameter update and the state (de)serialisers.
 */
export abstract class ParamOptimizer<H extends { lr: number }, S> implements Optimizer {
  abstract readonly type: OptimizerType;
  readonly paramGroups: ParamGroup<H>[];
  protected readonly state = new Map<string, S>();
  private readonly groupSchema: z.ZodType<H>;
  /**
   * The native update (native/headstart_optim.cc, bit-identical to the JS loops) when it is built and
   * not disabled (`HEADSTART_NATIVE_OPTIM=0`); null runs the JS loops. Tests and benches set it to
   * compare the two.
   */
  native: NativeOptimAddon | null = nativeOptimOrNull();

  /**
   * @param groups parameter groups; each one's hyperparameters override `defaults`
   * @param defaults the optimiser's options, already validated
   * @param groupSchema validates a group's resolved hyperparameters (strict: unknown keys rejected)
   */
  protected constructor(
    readonly name: string,
    groups: readonly ParamGroupInput<H>[],
    defaults: Partial<H>,
    groupSchema: z.ZodType<H>,
  ) {
    this.groupSchema = groupSchema;
    if (!Array.isArray(groups) || groups.length === 0) {
      throw new ConfigError('E_BAD_ARGUMENT', `${name}: expected at least one parameter group, found ${Array.isArray(groups) ? 0 : typeof groups}`, {
        hint: 'pass [{ params: [{ name, data }, ...] }]',
      });
    }
    const seen = new Set<string>();
    this.paramGroups = groups.map((group, gi) => {
      const where = `${name} param group ${gi}`;
      if (group === null || typeof group !== 'object') {
        throw new ConfigError('E_BAD_ARGUMENT', `${where}: expected { params, ...options }, found ${group === null ? 'null' : typeof group}`);
      }
      const { params, ...overrides } = group as ParamGroupInput<H>;
      checkParams(params, seen, where);
      const merged = { ...defaults, ...stripUndefined(overrides) };
      const hyper = parseOptions(groupSchema, merged, where);
      this.checkGroup(hyper, where);
      return { params: [...params], ...hyper };
    });
  }

  get groupCount(): number {
    return this.paramGroups.length;
  }

  /** Cross-field checks on a resolved group (e.g. nesterov needs momentum). */
  protected checkGroup(_group: H, _where: string): void {}

  /** Updates one parameter in place; `grad` has the parameter's length. */
  protected abstract update(param: Param, grad: Float32Array, group: ParamGroup<H>): void;

  protected abstract saveState(state: S): Record<string, StateValue>;
  /** Rebuilds one parameter's state, copying buffers; throws TrainingError when it does not fit. */
  protected abstract loadState(raw: Record<string, unknown>, param: Param, where: string): S;

  step(grads: Gradients): void {
    let used = 0;
    for (const group of this.paramGroups) {
      for (const param of group.params) {
        const grad = grads.get(param.name);
        if (grad === undefined) continue;
        used++;
        if (grad.length !== param.data.length) {
          throw new TrainingError('E_SHAPE_MISMATCH', `${this.name}.step: gradient of \`${param.name}\` has ${grad.length} elements, the parameter has ${param.data.length}`, {
            hint: 'the training graph and the optimiser must be built from the same parameters',
          });
        }
        this.update(param, grad, group);
      }
    }
    if (used !== grads.size) this.throwUnknownGradient(grads);
  }

  private throwUnknownGradient(grads: Gradients): never {
    const known = new Set(this.paramGroups.flatMap((g) => g.params.map((p) => p.name)));
    const unknown = [...grads.keys()].filter((k) => !known.has(k));
    throw new TrainingError(
      'E_BAD_ARGUMENT',
      `${this.name}.step: gradients for parameters the optimiser does not hold: ${unknown
        .slice(0, 5)
        .map((n) => `\`${n}\``)
        .join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}`,
      { hint: 'add these parameters to a parameter group, or drop their gradients (frozen parameters)' },
    );
  }

  getLr(): number[] {
    return this.paramGroups.map((g) => g.lr);
  }

  setLr(lrs: readonly number[]): void {
    this.checkPerGroup(lrs, 'setLr');
    this.paramGroups.forEach((g, i) => (g.lr = lrs[i]));
  }

  abstract getMomentum(): number[];
  abstract setMomentum(values: readonly number[]): void;

  protected checkPerGroup(values: readonly number[], where: string): void {
    if (values.length !== this.paramGroups.length) {
      throw new ConfigError('E_BAD_OPTION', `${this.name}.${where}: expected ${this.paramGroups.length} values (one per group), found ${values.length}`);
    }
  }

  stateDict(): OptimizerStateDict {
    const groups = this.paramGroups.map(({ params, ...hyper }) => ({
      params: params.map((p) => p.name),
      ...copyValues(hyper as Record<string, StateValue>),
    }));
    const state = Object.fromEntries([...this.state].map(([name, s]) => [name, this.saveState(s)]));
    return { type: this.type, groups, state };
  }

  loadStateDict(stateDict: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    const r = StateDictSchema.safeParse(stateDict);
    if (!r.success) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: not an optimiser state dict: ${describeZodIssues(r.error, 3)}`, {
        hint: 'pass the object returned by stateDict()',
      });
    }
    const sd = r.data;
    if (sd.type !== this.type) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: the state dict is for ${sd.type}, this optimiser is ${this.type}`, {
        hint: 'resume with the optimiser type the checkpoint was trained with',
      });
    }
    if (sd.groups.length !== this.paramGroups.length) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: the state dict has ${sd.groups.length} parameter groups, this optimiser has ${this.paramGroups.length}`, {
        hint: 'build the parameter groups the same way as the run that saved it',
      });
    }
    // Validate everything before changing anything, so a failed load leaves the optimiser intact.
    const hypers = sd.groups.map((saved, gi) => {
      const { params: names, ...hyper } = saved;
      const current = this.paramGroups[gi].params.map((p) => p.name);
      if (names.length !== current.length || names.some((n, i) => n !== current[i])) {
        throw new TrainingError('E_BAD_CHECKPOINT', `${where}: group ${gi} holds different parameters than the state dict (${describeDiff(current, names)})`, {
          hint: 'build the parameter groups the same way as the run that saved it',
        });
      }
      const parsed = this.groupSchema.safeParse(hyper);
      if (!parsed.success) {
        throw new TrainingError('E_BAD_CHECKPOINT', `${where}: group ${gi} hyperparameters are invalid: ${describeZodIssues(parsed.error)}`);
      }
      return parsed.data;
    });
    const params = new Map(this.paramGroups.flatMap((g) => g.params.map((p) => [p.name, p] as const)));
    const state = new Map<string, S>();
    for (const [name, raw] of Object.entries(sd.state)) {
      const param = params.get(name);
      if (param === undefined) {
        throw new TrainingError('E_BAD_CHECKPOINT', `${where}: state for \`${name}\`, which is not a parameter of this optimiser`, {
          hint: 'build the parameter groups the same way as the run that saved it',
        });
      }
      state.set(name, this.loadState(raw, param, `${where}: \`${name}\``));
    }
    hypers.forEach((h, gi) => Object.assign(this.paramGroups[gi], h));
    this.state.clear();
    for (const [k, v] of state) this.state.set(k, v);
  }
}

function checkParams(params: unknown, seen: Set<string>, where: string): asserts params is readonly Param[] {
  if (!Array.isArray(params)) {
    throw new ConfigError('E_BAD_ARGUMENT', `${where}: \`params\` must be an array of { name, data }, found ${typeof params}`);
  }
  for (const p of params as unknown[]) {
    const name = (p as Param | null)?.name;
    if (typeof name !== 'string' || name.length === 0) {
      throw new ConfigError('E_BAD_ARGUMENT', `${where}: every parameter needs a non-empty string \`name\`, found ${JSON.stringify(name)}`);
    }
    if (!((p as Param).data instanceof Float32Array)) {
      throw new ConfigError('E_BAD_ARGUMENT', `${where}: parameter \`${name}\` must hold a Float32Array in \`data\``);
    }
    if (seen.has(name)) {
      throw new ConfigError('E_BAD_ARGUMENT', `${where}: parameter \`${name}\` appears more than once`, {
        hint: 'each parameter belongs to exactly one group',
      });
    }
    seen.add(name);
  }
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function copyValues(o: Record<string, StateValue>): Record<string, StateValue> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v] as const)) as Record<string, StateValue>;
}

function describeDiff(current: string[], saved: string[]): string {
  const a = new Set(current);
  const b = new Set(saved);
  const missing = saved.filter((n) => !a.has(n));
  const extra = current.filter((n) => !b.has(n));
  if (missing.length === 0 && extra.length === 0) return 'same names, different order';
  const parts: string[] = [];
  if (missing.length) parts.push(`saved only: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}`);
  if (extra.length) parts.push(`here only: ${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', ...' : ''}`);
  return parts.join('; ');
}

/** Copies a saved buffer into a new Float32Array after checking its type and length. */
export function loadBuffer(value: unknown, length: number, where: string, key: string): Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new TrainingError('E_BAD_CHECKPOINT', `${where}: \`${key}\` must be a Float32Array, found ${value === null ? 'null' : typeof value}`);
  }
  if (value.length !== length) {
    throw new TrainingError('E_SHAPE_MISMATCH', `${where}: \`${key}\` has ${value.length} elements, the parameter has ${length}`, {
      hint: 'the checkpoint was saved for a different model',
    });
  }
  return new Float32Array(value);
}
