import { Random } from '../random.js';
import type { NamedTensors } from '../tensor.js';
import { numel } from '../tensor.js';
import type { ParamDef } from './net-builder.js';

/** Fresh parameter values following each parameter's torch default initialiser. */
export function initParams(defs: readonly ParamDef[], seed: number): NamedTensors {
  const rng = new Random(seed);
  const out: NamedTensors = new Map();
  for (const d of defs) {
    const data = new Float32Array(numel(d.shape));
    switch (d.init.kind) {
      case 'ones':
        data.fill(1);
        break;
      case 'zeros':
        break;
      case 'uniform': {
        const b = d.init.bound;
        for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-b, b);
        break;
      }
      case 'normal': {
        const s = d.init.std;
        for (let i = 0; i < data.length; i++) data[i] = rng.normal() * s;
        break;
      }
      case 'kaiming_normal_fan_out': {
        // torch.nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')
        const fanOut = d.shape[0] * d.shape.slice(2).reduce((a, b) => a * b, 1);
        const std = Math.sqrt(2 / fanOut);
        for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std;
        break;
      }
    }
    out.set(d.name, { dtype: 'float32', shape: [...d.shape], data });
  }
  return out;
}
