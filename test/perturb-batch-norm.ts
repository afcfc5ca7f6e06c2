// Non-trivial BatchNorm running statistics for tests whose graphs read them (eval mode, frozen stages):
// freshly initialised ones (mean 0, variance 1) would hide a running-statistics mix-up.
import { Random } from '../src/random.js';
import type { NamedTensors } from '../src/tensor.js';

export function perturbBatchNorm(params: NamedTensors, seed: number): void {
  const r = new Random(seed);
  for (const [name, t] of params) {
    const d = t.data as Float32Array;
    if (name.endsWith('running_mean')) d.forEach((_, i) => (d[i] = r.uniform(-0.2, 0.2)));
    else if (name.endsWith('running_var')) d.forEach((_, i) => (d[i] = r.uniform(0.5, 2)));
  }
}
