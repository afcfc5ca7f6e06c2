import { GraphError } from '../../errors.js';
import type { Dim, Node } from '../graph.js';
import { intAttr, intsAttr, stringAttr } from '../op-registry.js';

/**
 * The sliding window of Conv, MaxPool and AveragePool over any number of spatial axes
 * (NC + spatial), with every attribute the ONNX spec defines for it: kernel_shape, strides,
 * dilations, pads, auto_pad (NOTSET, VALID, SAME_UPPER, SAME_LOWER) and ceil_mode.
 *
 * When the spatial sizes are known, auto_pad is resolved into explicit pads and written back
 * to the node (auto_pad removed), so gradient rules and the serialised graph see one form.
 */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin_0, begin_1, ..., end_0, end_1, ...] as in ONNX. */
  pads: number[];
  /** Output spatial sizes (-1 where the input's size is dynamic). */
  out: Dim[];
}

const AUTO_PADS = new Set(['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER']);

/** The output size of one axis for explicit pads, as ONNX Runtime computes it. */
function outSize(size: number, k: number, s: number, p0: number, p1: number, d: number, ceil: boolean): number {
  const span = size + p0 + p1 - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // As torch and ONNX Runtime: the last window must start inside the input or the left padding.
  if (ceil && (out - 1) * s >= size + p0) out--;
  return out;
}

export function slidingWindow(node: Node, spatial: Dim[], kernelFallback?: number[]): Window {
  const r = spatial.length;
  const kernel = intsAttr(node, 'kernel_shape', kernelFallback ?? []);
  if (kernel.length !== r)
    throw new GraphError('E_BAD_GRAPH', `kernel_shape [${kernel}] has ${kernel.length} axes, but the input has ${r} spatial axes`, { hint: 'kernel_shape lists one size per spatial axis' });
  const strides = intsAttr(node, 'strides', new Array<number>(r).fill(1));
  const dilations = intsAttr(node, 'dilations', new Array<number>(r).fill(1));
  const ceil = intAttr(node, 'ceil_mode', 0) === 1;
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
  if (!AUTO_PADS.has(autoPad)) throw new GraphError('E_BAD_GRAPH', `auto_pad is \`${autoPad}\`, expected NOTSET, VALID, SAME_UPPER or SAME_LOWER`, { hint: 'fix the exporter' });
  if (strides.length !== r || dilations.length !== r) throw new GraphError('E_BAD_GRAPH', `strides [${strides}] and dilations [${dilations}] need ${r} values`, { hint: 'one value per spatial axis' });
  let pads = intsAttr(node, 'pads', new Array<number>(2 * r).fill(0));
  if (autoPad === 'VALID') pads = new Array<number>(2 * r).fill(0);
  if (pads.length !== 2 * r) throw new GraphError('E_BAD_GRAPH', `pads [${pads}] need ${2 * r} values (begin and end of each spatial axis)`, { hint: 'one begin and one end per spatial axis' });
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    const out = spatial.map((size, i) => (size < 0 ? -1 : Math.ceil(size / strides[i])));
    if (spatial.some((size) => size < 0)) return { kernel, strides, dilations, pads, out };
    pads = new Array<number>(2 * r).fill(0);
    spatial.forEach((size, i) => {
      const total = Math.max(0, (out[i] - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + r] = total - pads[i];
    });
  }
  if (autoPad !== 'NOTSET') {
    delete node.attrs.auto_pad;
    node.attrs.pads = pads;
  }
  const out = spatial.map((size, i) => (size < 0 ? -1 : outSize(size, kernel[i], strides[i], pads[i], pads[i + r], dilations[i], ceil)));
  if (out.some((o, i) => spatial[i] >= 0 && o <= 0))
    throw new GraphError('E_SHAPE_MISMATCH', `the input's spatial size [${spatial}] is smaller than the window (kernel [${kernel}], dilations [${dilations}], pads [${pads}])`, {
      hint: 'use a larger input image',
    });
  return { kernel, strides, dilations, pads, out };
}
