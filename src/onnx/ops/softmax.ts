import { intAttr, registerOp } from '../op-registry.js';

/** Softmax and LogSoftmax along one axis (opset 13 semantics). */

registerOp({
  type: 'Softmax',
  infer: (g, node) => [{ ...g.info(node.inputs[0]) }],
  grad: (g, node, [dy]) => {
    const y = node.outputs[0];
    const axis = intAttr(node, 'axis', -1);
    const dot = g.op('ReduceSum', [g.op('Mul', [dy!, y]), g.ints([axis])], { keepdims: 1 });
    return [g.op('Mul', [y, g.op('Sub', [dy!, dot])])];
  },
  gradCases: [{ label: 'axis 1', build: (g, [a]) => g.op('Softmax', [a], { axis: 1 }), inputShapes: [[3, 5]], scale: 3 }],
});

registerOp({
  type: 'LogSoftmax',
  infer: (g, node) => [{ ...g.info(node.inputs[0]) }],
  grad: (g, node, [dy]) => {
    const axis = intAttr(node, 'axis', -1);
    const total = g.op('ReduceSum', [dy!, g.ints([axis])], { keepdims: 1 });
    return [g.op('Sub', [dy!, g.op('Mul', [g.op('Exp', [node.outputs[0]]), total])])];
  },
  gradCases: [{ label: 'axis 1', build: (g, [a]) => g.op('LogSoftmax', [a], { axis: 1 }), inputShapes: [[3, 5]], scale: 3 }],
});
