import type { Dim, Graph } from '../graph.js';
import { sameShape } from '../op-registry.js';

/** Sums a broadcast gradient back down to an input's shape (the adjoint of broadcasting). */
export function unbroadcast(g: Graph, grad: string, target: readonly Dim[]): string {
  const from = g.shape(grad);
  if (sameShape(from, target)) return grad;
  const lead = from.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < from.length; i++) {
    if (i < lead) axes.push(i);
    else if (target[i - lead] === 1 && from[i] !== 1) axes.push(i);
  }
  let out = grad;
  if (axes.length > 0) out = g.op('ReduceSum', [out, g.ints(axes)], { keepdims: 1 });
  if (!sameShape(g.shape(out), target)) out = g.op('Reshape', [out, g.ints(target)]);
  return out;
}
