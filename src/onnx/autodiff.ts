import { GraphError } from '../errors.js';
import type { Graph } from './graph.js';
import { getOp } from './op-registry.js';

export interface BackwardResult {
  /** Gradient value name for each parameter, in the order asked. */
  gradients: Map<string, string>;
  /** Parameters the loss does not depend on (their gradient is zero). */
  unused: string[];
}

const FLOAT_TYPES = new Set(['float32', 'float64']);

/**
 * Reverse-mode autodiff: appends to `g` the nodes computing d(loss)/d(param) for every
 * parameter in `wrt`. Only nodes on a path from a trainable parameter to the loss are
 * differentiated, so a frozen backbone costs its forward pass only.
 */
export function appendBackward(g: Graph, loss: string, wrt: readonly string[]): BackwardResult {
  const lossShape = g.shape(loss);
  if (lossShape.reduce((a, b) => a * b, 1) !== 1)
    throw new GraphError('E_SHAPE_MISMATCH', `The loss \`${loss}\` must be a scalar, found shape [${lossShape}]`, { hint: 'reduce the loss to one value' });
  const forwardNodes = [...g.nodes];

  // Values that depend on a trainable parameter.
  const requires = new Set<string>(wrt);
  for (const node of forwardNodes) {
    if (node.inputs.some((i) => requires.has(i))) for (const o of node.outputs) if (FLOAT_TYPES.has(g.dtype(o))) requires.add(o);
  }
  if (!requires.has(loss)) throw new GraphError('E_BAD_GRAPH', `The loss \`${loss}\` does not depend on any trainable parameter`, { hint: 'check which parameters are marked trainable' });

  // Values the loss depends on.
  const reaches = new Set<string>([loss]);
  for (let k = forwardNodes.length - 1; k >= 0; k--) {
    const node = forwardNodes[k];
    if (node.outputs.some((o) => reaches.has(o))) for (const i of node.inputs) if (i) reaches.add(i);
  }

  const contributions = new Map<string, string[]>();
  const add = (value: string, grad: string) => {
    const list = contributions.get(value);
    if (list) list.push(grad);
    else contributions.set(value, [grad]);
  };
  const total = (value: string): string | undefined => {
    const list = contributions.get(value);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const sum = g.op('Sum', list, {}, `grad_sum_${value}`);
    contributions.set(value, [sum]);
    return sum;
  };

  const seed = g.op('ConstantOfShape', [g.ints(lossShape)], { value: { dtype: 'float32', shape: [1], data: new Float32Array([1]) } }, 'grad_seed');
  add(loss, seed);

  for (let k = forwardNodes.length - 1; k >= 0; k--) {
    const node = forwardNodes[k];
    const needs = node.inputs.map((i) => i !== '' && requires.has(i) && reaches.has(i));
    if (!needs.some(Boolean)) continue;
    const dOutputs = node.outputs.map((o) => total(o));
    if (dOutputs.every((d) => d === undefined)) continue;
    const def = getOp(node.op);
    if (!def.grad) {
      throw new GraphError('E_NO_GRADIENT', `No gradient rule for op ${node.op} (node \`${node.name}\`)`, {
        hint: 'freeze the parameters before this node, or add a gradient rule for the op',
      });
    }
    const grads = def.grad(g, node, dOutputs, needs);
    node.inputs.forEach((input, i) => {
      const grad = grads[i];
      if (needs[i] && grad) add(input, grad);
    });
  }

  const gradients = new Map<string, string>();
  const unused: string[] = [];
  for (const p of wrt) {
    const grad = total(p);
    if (grad) gradients.set(p, grad);
    else unused.push(p);
  }
  return { gradients, unused };
}
