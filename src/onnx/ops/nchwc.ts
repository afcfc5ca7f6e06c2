import { GraphError } from '../../errors.js';
import { intAttr, registerOp } from '../op-registry.js';
import { slidingWindow } from './spatial-window.js';

/**
 * ONNX Runtime's CPU contrib ops of the `com.microsoft.nchwc` domain (blocked channel layout,
 * NCHWc): shape rules only. They have no gradient rule: src/onnx/blocked-convs.ts emits them
 * after autodiff, in training graphs for onnxruntime-node only (never in an exported model).
 * A blocked tensor keeps its NCHW shape (the rewrite blocks only channel counts that are
 * multiples of the block size).
 */
export const NCHWC_PREFIX = 'nchwc:';
export const NCHWC_DOMAIN = 'com.microsoft.nchwc';

registerOp({
  type: `${NCHWC_PREFIX}ReorderInput`,
  infer: (g, node) => {
    // Only emitted for channel counts that are multiples of the block: the shape is unchanged.
    const x = g.shape(node.inputs[0]);
    if (x.length !== 4) throw new GraphError('E_BAD_GRAPH', `ReorderInput needs an NCHW input, found [${x}]`, { hint: 'a bug in the blocked-layout rewrite' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: [...x] }];
  },
});

registerOp({
  type: `${NCHWC_PREFIX}ReorderOutput`,
  infer: (g, node) => {
    const x = g.shape(node.inputs[0]);
    return [{ dtype: g.dtype(node.inputs[0]), shape: [x[0], intAttr(node, 'channels', x[1]), x[2], x[3]] }];
  },
});

registerOp({
  type: `${NCHWC_PREFIX}Conv`,
  infer: (g, node) => {
    const x = g.shape(node.inputs[0]);
    const w = g.shape(node.inputs[1]);
    const win = slidingWindow(node, x.slice(2), w.slice(2));
    return [{ dtype: g.dtype(node.inputs[0]), shape: [x[0], w[0], ...win.out] }];
  },
});
