/**
 * Progressive resizing (fastai's, `--progressive 128,224`): the epochs are split into as many
 * equal stages as there are sizes (the earlier stages take the remainder), each stage trains
 * at its crop size, and the last at the model's own. The training graph of each size is built
 * when its stage starts. After an epoch at a smaller size, the BatchNorm running statistics
 * are recomputed at the final size before the val phase: one pass over the training images
 * (the run's augmentation at the final size, no weight update) with a graph whose BatchNorm
 * momentum is 1, so each step leaves its batch's statistics, averaged over the pass (torch's
 * cumulative average, momentum=None).
 */
import { ConfigError } from '../errors.js';
import type { NamedTensors } from '../tensor.js';

/** Keys the augmentation draws of the BatchNorm pass apart from the training epochs' (the pass after epoch e draws as epoch BN_PASS_EPOCH + e). */
export const BN_PASS_EPOCH = 0x40000000;

/** The crop size of `epoch` (1-based) out of `epochs`. */
export function progressiveSize(epoch: number, epochs: number, sizes: readonly number[]): number {
  const stage = Math.min(sizes.length - 1, Math.floor(((epoch - 1) * sizes.length) / epochs));
  return sizes[Math.max(0, stage)];
}

/** Checks a --progressive list against the run's input size. */
export function checkProgressive(sizes: readonly number[], inputSize: number, epochs: number): void {
  if (sizes[sizes.length - 1] !== inputSize) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--progressive ${sizes.join(',')} ends at ${sizes[sizes.length - 1]}, but the model is trained and evaluated at ${inputSize}`, {
      hint: `end the list with ${inputSize} (e.g. --progressive ${Math.max(8, Math.round(inputSize / 2))},${inputSize}), or change --input-size`,
    });
  }
  for (let i = 1; i < sizes.length; i++) {
    if (!(sizes[i] > sizes[i - 1]))
      throw new ConfigError('E_BAD_OPTION', `--progressive ${sizes.join(',')}: sizes must increase, found ${sizes[i - 1]} then ${sizes[i]}`, { hint: 'e.g. --progressive 128,224' });
  }
  if (sizes.length > epochs) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--progressive has ${sizes.length} sizes but the run has ${epochs} epoch(s): each size needs at least one`, {
      hint: `give at most ${epochs} sizes, or more --epochs`,
    });
  }
}

/** Accumulates BatchNorm running statistics step by step and writes their mean into the parameters. */
export class RunningStatsAverage {
  private readonly sums = new Map<string, Float64Array>();
  private count = 0;

  constructor(
    private readonly params: NamedTensors,
    private readonly names: readonly string[],
  ) {}

  /** After a step: the statistics the step left in the parameters. */
  add(): void {
    for (const n of this.names) {
      const v = this.params.get(n)!.data as Float32Array;
      let s = this.sums.get(n);
      if (!s) this.sums.set(n, (s = new Float64Array(v.length)));
      for (let i = 0; i < v.length; i++) s[i] += v[i];
    }
    this.count++;
  }

  /** Writes the averages (or, with no step, the saved values) into the parameters. */
  finish(saved: ReadonlyMap<string, Float32Array>): void {
    for (const n of this.names) {
      const target = this.params.get(n)!.data as Float32Array;
      const s = this.sums.get(n);
      if (this.count === 0 || !s) target.set(saved.get(n)!);
      else for (let i = 0; i < target.length; i++) target[i] = s[i] / this.count;
    }
  }
}
