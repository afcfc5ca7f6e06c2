import type { Graph, Node } from './graph.js';
import { intAttr, intsAttr } from './op-registry.js';
import { NCHWC_PREFIX } from './ops/nchwc.js';

export interface BlockedConvOptions {
  /** The NCHWc block size of this machine's ONNX Runtime (16 with AVX-512, 8 with AVX2). */
  block: number;
  /** Rewrite only convolutions whose input is at least this many pixels high and wide. */
  minSize: number;
}

/**
 * Rewrites a finished training graph's convolutions with computed (trainable) weights into
 * ONNX Runtime's blocked-layout `com.microsoft.nchwc:Conv`, which runs direct convolutions
 * instead of im2col + GEMM. ONNX Runtime does this itself for convolutions with constant
 * weights; a weight that is a graph input (or computed from one: the flipped kernel of an
 * input gradient) never gets it. Each rewritten conv becomes ReorderInput -> nchwc:Conv ->
 * ReorderOutput, its weight reordered in the graph (OIHW -> OIHWBiBo, or OIHWBo when the input
 * has fewer channels than a block and stays NCHW: the stem). The output keeps its name, so
 * the rest of the graph is unchanged. Returns the number of convolutions rewritten.
 *
 * Only for onnxruntime-node sessions whose startup self-test passed (src/engine/nchwc-probe.ts):
 * the contrib ops are ONNX Runtime internals, absent from onnxruntime-web and from ONNX itself.
 */
export function blockConvs(g: Graph, options: BlockedConvOptions): number {
  const { block, minSize } = options;
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const constant = new Map<string, boolean>();
  const isConstant = (v: string): boolean => {
    const known = constant.get(v);
    if (known !== undefined) return known;
    const p = producer.get(v);
    const result = p ? p.inputs.every((i) => i === '' || isConstant(i)) : g.initializers.has(v);
    constant.set(v, result);
    return result;
  };
  const reordered = new Map<string, string>();
  const original = g.nodes.splice(0, g.nodes.length);
  let count = 0;
  for (const n of original) {
    if (!eligible(g, n, block, minSize) || isConstant(n.inputs[1])) {
      g.nodes.push(n);
      continue;
    }
    const [x, w, bias] = n.inputs;
    const [o, c, kh, kw] = g.shape(w);
    let xb = x;
    let wb: string;
    if (c % block === 0) {
      xb = reordered.get(x) ?? g.op(`${NCHWC_PREFIX}ReorderInput`, [x]);
      reordered.set(x, xb);
      const w6 = g.op('Reshape', [w, g.ints([o / block, block, c / block, block, kh, kw])]);
      wb = g.op('Reshape', [g.op('Transpose', [w6], { perm: [0, 2, 4, 5, 3, 1] }), g.ints([o, c, kh, kw])]);
    } else {
      const w5 = g.op('Reshape', [w, g.ints([o / block, block, c, kh, kw])]);
      wb = g.op('Reshape', [g.op('Transpose', [w5], { perm: [0, 2, 3, 4, 1] }), g.ints([o, c, kh, kw])]);
    }
    const attrs = {
      kernel_shape: [kh, kw],
      strides: intsAttr(n, 'strides', [1, 1]),
      pads: intsAttr(n, 'pads', [0, 0, 0, 0]),
      dilations: intsAttr(n, 'dilations', [1, 1]),
    };
    const yb = g.op(`${NCHWC_PREFIX}Conv`, bias ? [xb, wb, bias] : [xb, wb], attrs);
    g.nodes.push({ op: `${NCHWC_PREFIX}ReorderOutput`, name: g.uniqueName(`${n.name}_blocked`), inputs: [yb], outputs: [n.outputs[0]], attrs: { channels: o } });
    count++;
  }
  return count;
}

/** A dense 2-D Conv whose channels fit the blocked kernels, at a resolution where they pay. */
function eligible(g: Graph, n: Node, block: number, minSize: number): boolean {
  if (n.op !== 'Conv' || intAttr(n, 'group', 1) !== 1 || n.attrs.auto_pad !== undefined) return false;
  const x = g.shape(n.inputs[0]);
  const w = g.shape(n.inputs[1]);
  if (x.length !== 4 || x.some((d) => d < 0)) return false;
  const [o, c] = w;
  if (o % block !== 0) return false;
  if (c % block !== 0 && c >= block) return false;
  return Math.min(x[2], x[3]) >= minSize;
}
