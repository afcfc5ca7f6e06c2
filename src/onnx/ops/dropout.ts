import type { Graph } from '../graph.js';
import { registerOp } from '../op-registry.js';

/** Dropout with inverted scaling; the mask output exists only when a gradient needs it. */

export function dropout(g: Graph, x: string, ratio: number, training: boolean): string {
  if (!training || ratio === 0) return x;
  return g.op('Dropout', [x, g.scalar(ratio), g.initializer(g.uniqueName('dropout_training'), { dtype: 'bool', shape: [], data: new Uint8Array([1]) })]);
}

registerOp({
  type: 'Dropout',
  infer: (g, node) => {
    const x = g.info(node.inputs[0]);
    return [
      { dtype: x.dtype, shape: [...x.shape] },
      { dtype: 'bool', shape: [...x.shape] },
    ];
  },
  grad: (g, node, [dy]) => {
    if (node.outputs.length < 2) {
      const name = g.uniqueName(`${node.name}_mask`);
      g.values.set(name, { name, dtype: 'bool', shape: [...g.shape(node.outputs[0])] });
      node.outputs.push(name);
    }
    const ratio = node.inputs[1] ? (g.constantFloats(node.inputs[1])?.[0] ?? 0.5) : 0.5;
    const training = node.inputs[2] ? g.initializers.get(node.inputs[2])?.data[0] === 1 : false;
    if (!training) return [dy, undefined, undefined];
    const scaled = g.op('Mul', [dy!, g.scalar(1 / (1 - ratio))]);
    return [g.op('Where', [node.outputs[1], scaled, g.scalar(0)]), undefined, undefined];
  },
  // Random masks cannot be finite-differenced; the inference path (identity) is checked here
  // and the training path against its own mask in test/engine-dropout.test.ts.
  gradCases: [{ label: 'inference (identity)', build: (g, [x]) => g.op('Dropout', [x, g.scalar(0.3)]), inputShapes: [[3, 4]] }],
});
