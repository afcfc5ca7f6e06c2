/**
 * The base of every learning-rate schedule: a pure closed form `lrAt(t)` (and optionally
 * `momentumAt(t)`) over per-group base learning rates, driven by `step()`.
 *
 * Counting follows torch.optim.lr_scheduler (1.13): constructing a scheduler applies the
 * value at t = 0 to the optimiser (torch's initial step); each `step()` advances t by one and
 * applies lrAt(t). Call `step()` after the optimiser's step, once per `interval` (epoch or
 * batch); the trainer reads `interval` to know which. Closed forms mean a resumed run (state
 * dict: t and the base lrs) continues exactly; unlike torch's chainable forms, changes made
 * to the optimiser's lr from outside are overwritten at the next step.
 */
import { ConfigError, TrainingError } from '../errors.js';
import type { Optimizer } from './optimizer.js';

export type SchedulerInterval = 'epoch' | 'batch';

export interface SchedulerStateDict {
  type: string;
  /** Number of `step()` calls so far (torch's last_epoch). */
  t: number;
  /** Per-group base learning rates the closed form scales. */
  baseLrs: number[];
  /** The wrapped scheduler's state, for wrappers (warm-up). */
  inner?: SchedulerStateDict;
}

export abstract class LrScheduler {
  abstract readonly type: string;
  readonly optimizer: Optimizer;
  readonly interval: SchedulerInterval;
  protected baseLrs: number[];
  protected t = 0;
  private lastLr: number[] = [];

  protected constructor(optimizer: Optimizer, interval: SchedulerInterval) {
    this.optimizer = optimizer;
    this.interval = interval;
    this.baseLrs = optimizer.getLr();
  }

  /** Learning rate of each group after `t` steps. Pure: depends only on t and the base lrs. */
  abstract lrAt(t: number): number[];

  /** Momentum (SGD) or beta1 (Adam) of each group after `t` steps; undefined: left alone. */
  momentumAt(_t: number): number[] | undefined {
    return undefined;
  }

  /** Number of `step()` calls so far. */
  get stepCount(): number {
    return this.t;
  }

  /** The per-group learning rates the schedule scales (copy). */
  getBaseLrs(): number[] {
    return [...this.baseLrs];
  }

  /** Advances one epoch or batch (see `interval`) and sets the optimiser's learning rates. */
  step(): void {
    // Apply before counting, so a step that throws (past one-cycle's end) leaves t unchanged.
    this.apply(this.t + 1);
    this.t += 1;
  }

  /** The learning rates set by the latest step (or by construction). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Writes lrAt(t) (and momentumAt(t)) into the optimiser. Subclass constructors end with it. */
  protected apply(t: number = this.t): void {
    const lrs = this.lrAt(t);
    const m = this.momentumAt(t);
    this.optimizer.setLr(lrs);
    if (m !== undefined) this.optimizer.setMomentum(m);
    this.lastLr = lrs;
  }

  stateDict(): SchedulerStateDict {
    return { type: this.type, t: this.t, baseLrs: [...this.baseLrs] };
  }

  /** Restores t and the base lrs, and re-applies the schedule's values to the optimiser. */
  loadStateDict(state: SchedulerStateDict): void {
    this.restoreState(state);
    this.apply();
  }

  /**
   * Validates and restores t and the base lrs without touching the optimiser (a wrapper
   * restores its inner scheduler with it). Throws TrainingError, changing nothing, on a bad state.
   */
  restoreState(state: SchedulerStateDict): void {
    const where = `${this.type} scheduler loadStateDict`;
    if (state === null || typeof state !== 'object' || state.type !== this.type) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: the state dict is for ${describeType(state)}, this scheduler is ${this.type}`, {
        hint: 'resume with the scheduler configuration the checkpoint was trained with',
      });
    }
    if (!Number.isInteger(state.t) || state.t < 0) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: \`t\` must be a non-negative integer, found ${String(state.t)}`);
    }
    if (!Array.isArray(state.baseLrs) || state.baseLrs.length !== this.baseLrs.length || !state.baseLrs.every(Number.isFinite)) {
      throw new TrainingError('E_BAD_CHECKPOINT', `${where}: expected ${this.baseLrs.length} finite base learning rates (one per group), found ${JSON.stringify(state.baseLrs)}`, {
        hint: 'build the parameter groups the same way as the run that saved it',
      });
    }
    this.t = state.t;
    this.baseLrs = [...state.baseLrs];
  }
}

function describeType(state: unknown): string {
  const type = (state as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : 'something else';
}

/** Expands a per-group option given as one number or one number per group. */
export function perGroup(value: number | readonly number[], groups: number, where: string): number[] {
  if (typeof value === 'number') return new Array<number>(groups).fill(value);
  if (value.length !== groups) {
    throw new ConfigError('E_BAD_OPTION', `${where}: expected one value per parameter group (${groups}), found ${value.length}`, {
      hint: 'give a single number, or an array with one number per group',
    });
  }
  return [...value];
}
