import { GraphError } from '../../errors.js';
import type { Graph, Node } from '../graph.js';
import { intAttr, intsAttr, registerOp, staticShape, stringAttr } from '../op-registry.js';
import { slidingWindow } from './spatial-window.js';
import { sumOverNHW } from './sum-over-nhw.js';

/**
 * Conv (any number of spatial axes for inference; 2-D, any strides, pads, dilations, groups
 * for its gradient rule).
 * The gradient formulations follow DESIGN.md's measurements: input gradient by a plain Conv
 * with the flipped, channel-swapped kernel when the stride is 1, ConvTranspose otherwise;
 * weight gradient by im2col (transposed input, Pad + strided Slices + Concat) and one Gemm;
 * depthwise weight gradient by one grouped Conv with the batch folded into the channels.
 */

export interface ConvParams {
  kernel: [number, number];
  strides: [number, number];
  pads: [number, number, number, number];
  dilations: [number, number];
  group: number;
}

function convParams(g: Graph, node: Node): ConvParams {
  const w = g.shape(node.inputs[1]);
  const kernel = intsAttr(node, 'kernel_shape', [w[2], w[3]]) as [number, number];
  return {
    kernel,
    strides: intsAttr(node, 'strides', [1, 1]) as [number, number],
    pads: intsAttr(node, 'pads', [0, 0, 0, 0]) as [number, number, number, number],
    dilations: intsAttr(node, 'dilations', [1, 1]) as [number, number],
    group: intAttr(node, 'group', 1),
  };
}

/** Gradient rules are written for images: NCHW input, [M, C/group, kH, kW] weight. */
function require2d(g: Graph, node: Node): void {
  const rank = g.shape(node.inputs[0]).length;
  if (rank !== 4) {
    throw new GraphError('E_NO_GRADIENT', `${node.op} node \`${node.name}\` is ${rank - 2}-D; headstart's gradient rule is for 2-D (image) ${node.op}`, {
      hint: 'freeze the layers before it, or train a 2-D model',
    });
  }
}

registerOp({
  type: 'Conv',
  infer: (g, node) => {
    const x = g.shape(node.inputs[0]);
    const w = g.shape(node.inputs[1]);
    if (x.length < 3 || w.length !== x.length)
      throw new GraphError('E_SHAPE_MISMATCH', `Conv needs an [N, C, spatial...] input and an [M, C/group, kernel...] weight of the same rank, found ranks ${x.length} and ${w.length}`, {
        hint: 'check the input layout (NCHW)',
      });
    const group = intAttr(node, 'group', 1);
    if (x[1] >= 0 && x[1] !== w[1] * group) {
      throw new GraphError('E_SHAPE_MISMATCH', `input has ${x[1]} channels but the weight expects ${w[1] * group} (${w[1]} per group x ${group} groups)`, { hint: 'check the weight shape and group' });
    }
    const win = slidingWindow(node, x.slice(2), w.slice(2));
    return [{ dtype: g.dtype(node.inputs[0]), shape: [x[0], w[0], ...win.out] }];
  },
  grad: (g, node, [dy], needs) => {
    require2d(g, node);
    const [x, w, b] = node.inputs;
    const p = convParams(g, node);
    return [
      needs[0] ? convInputGrad(g, dy!, w, staticShape(g, x), p) : undefined,
      needs[1] ? convWeightGrad(g, dy!, x, staticShape(g, w), p) : undefined,
      b && needs[2] ? sumOverNHW(g, dy!) : undefined,
    ];
  },
  gradCases: [
    { label: '3x3 pad 1 with bias', build: (g, [x, w, b]) => g.op('Conv', [x, w, b], { pads: [1, 1, 1, 1] }), inputShapes: [[2, 3, 5, 5], [4, 3, 3, 3], [4]] },
    {
      label: '3x3 stride 2 pad 1',
      build: (g, [x, w]) => g.op('Conv', [x, w], { strides: [2, 2], pads: [1, 1, 1, 1] }),
      inputShapes: [
        [2, 2, 6, 6],
        [3, 2, 3, 3],
      ],
    },
    {
      label: '7x7 stride 2 pad 3 (resnet stem)',
      build: (g, [x, w]) => g.op('Conv', [x, w], { strides: [2, 2], pads: [3, 3, 3, 3] }),
      inputShapes: [
        [1, 2, 9, 9],
        [2, 2, 7, 7],
      ],
    },
    {
      label: '1x1 stride 2 (downsample)',
      build: (g, [x, w]) => g.op('Conv', [x, w], { strides: [2, 2] }),
      inputShapes: [
        [2, 3, 5, 5],
        [4, 3, 1, 1],
      ],
    },
    {
      label: 'depthwise 3x3',
      build: (g, [x, w]) => g.op('Conv', [x, w], { group: 3, pads: [1, 1, 1, 1] }),
      inputShapes: [
        [2, 3, 5, 5],
        [3, 1, 3, 3],
      ],
    },
    {
      label: 'depthwise 5x5 stride 2',
      build: (g, [x, w]) => g.op('Conv', [x, w], { group: 3, strides: [2, 2], pads: [2, 2, 2, 2] }),
      inputShapes: [
        [1, 3, 7, 7],
        [3, 1, 5, 5],
      ],
    },
    {
      label: 'depthwise 3x3 stride 2 on 6x6 (cropped weight gradient)',
      build: (g, [x, w]) => g.op('Conv', [x, w], { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }),
      inputShapes: [
        [2, 2, 6, 6],
        [2, 1, 3, 3],
      ],
    },
    {
      label: 'depthwise 3x3 dilated 2 asymmetric pads',
      build: (g, [x, w]) => g.op('Conv', [x, w], { group: 2, dilations: [2, 2], pads: [2, 1, 1, 2] }),
      inputShapes: [
        [2, 2, 6, 6],
        [2, 1, 3, 3],
      ],
    },
    {
      label: 'grouped 2 groups',
      build: (g, [x, w]) => g.op('Conv', [x, w], { group: 2, pads: [1, 1, 1, 1] }),
      inputShapes: [
        [1, 4, 4, 4],
        [6, 2, 3, 3],
      ],
    },
    {
      label: '3x3 on 28x28 (shifted weight gradient)',
      build: (g, [x, w]) => g.op('Conv', [x, w], { pads: [1, 1, 1, 1] }),
      inputShapes: [
        [1, 1, 28, 28],
        [2, 1, 3, 3],
      ],
      wrt: [1],
    },
    {
      label: 'dilated 3x3 asymmetric pads on 28x28 (shifted)',
      build: (g, [x, w]) => g.op('Conv', [x, w], { pads: [2, 1, 1, 2], dilations: [2, 2] }),
      inputShapes: [
        [1, 1, 29, 29],
        [2, 1, 3, 3],
      ],
      wrt: [1],
    },
    {
      label: 'dilated asymmetric pads',
      build: (g, [x, w]) => g.op('Conv', [x, w], { dilations: [2, 2], pads: [2, 1, 1, 2] }),
      inputShapes: [
        [1, 2, 6, 6],
        [2, 2, 3, 3],
      ],
    },
  ],
});

/** [M, C/g, kh, kw] -> [C, M/g, kh, kw] flipped in space: the kernel of the transposed conv. */
function flippedKernel(g: Graph, w: string, group: number): string {
  const [m, cg, kh, kw] = staticShape(g, w);
  let t: string;
  if (cg === 1 && m === group)
    t = w; // depthwise: channels stay in place
  else {
    const r = g.op('Reshape', [w, g.ints([group, m / group, cg, kh, kw])]);
    const tr = g.op('Transpose', [r], { perm: [0, 2, 1, 3, 4] });
    t = g.op('Reshape', [tr, g.ints([cg * group, m / group, kh, kw])]);
  }
  if (kh * kw === 1) return t;
  if (process.env.HEADSTART_FLIP_SLICE === '1') return g.op('Slice', [t, g.ints([-1, -1]), g.ints([-kh - 1, -kw - 1]), g.ints([2, 3]), g.ints([-1, -1])]);
  // Flipping both spatial axes reverses the flattened kh*kw taps: a MatMul by the anti-identity,
  // bit-identical to Slice with step -1 (each output is one input times 1 plus zeros) and
  // measured ~2x faster for 3x3 kernels (ONNX Runtime's negative-step Slice is a slow
  // element-wise copy). HEADSTART_FLIP_SLICE=1 restores the Slice (for A/B measurements).
  const taps = kh * kw;
  const [a, b] = staticShape(g, t);
  const anti = new Float32Array(taps * taps);
  for (let i = 0; i < taps; i++) anti[i * taps + (taps - 1 - i)] = 1;
  const flat = g.op('MatMul', [g.op('Reshape', [t, g.ints([a * b, taps])]), g.floats(anti, [taps, taps])]);
  return g.op('Reshape', [flat, g.ints([a, b, kh, kw])]);
}

function convInputGrad(g: Graph, dy: string, w: string, xShape: number[], p: ConvParams): string {
  const [kh, kw] = p.kernel;
  const [dh, dw] = p.dilations;
  const [pt, pl, pb, pr] = p.pads;
  const padsT = [dh * (kh - 1) - pt, dw * (kw - 1) - pl, dh * (kh - 1) - pb, dw * (kw - 1) - pr];
  if (p.strides[0] === 1 && p.strides[1] === 1 && padsT.every((v) => v >= 0)) {
    return g.op('Conv', [dy, flippedKernel(g, w, p.group)], { pads: padsT, dilations: p.dilations, group: p.group });
  }
  if (stridedInputGradForm() === 'subconv') {
    const sub = subConvInputGrad(g, dy, w, xShape, p);
    if (sub) return sub;
  }
  const yShape = staticShape(g, dy);
  const outputPadding = [0, 1].map((i) => xShape[2 + i] - (p.strides[i] * (yShape[2 + i] - 1) + p.dilations[i] * (p.kernel[i] - 1) + 1 - p.pads[i] - p.pads[i + 2]));
  return g.op('ConvTranspose', [dy, w], {
    strides: p.strides,
    pads: p.pads,
    dilations: p.dilations,
    group: p.group,
    kernel_shape: p.kernel,
    output_padding: outputPadding,
  });
}

/**
 * How strided convolutions get their input gradient: 'convtranspose' (ConvTranspose: Gemm +
 * col2im) or 'subconv' (stride-1 sub-convolutions + DepthToSpace, subConvInputGrad). Set by
 * HEADSTART_STRIDED_DX for A/B measurements (bench/step-ab.ts); default ConvTranspose until a
 * quiet-machine measurement shows the other faster.
 */
function stridedInputGradForm(): 'convtranspose' | 'subconv' {
  return process.env.HEADSTART_STRIDED_DX === 'subconv' ? 'subconv' : 'convtranspose';
}

/**
 * The input gradient of a stride-s convolution without ConvTranspose. Output pixel h of dX
 * (padded coordinate h + pad = s*q + r) receives dY[q - a] * W[r + s*a] for every tap of phase
 * r: per phase a stride-1 convolution of dY with the sub-kernel W[r::s] flipped. All s*s phase
 * kernels, zero-padded to ceil(k/s) taps, are stacked along the output channels (channel
 * c*s*s + r_h*s + r_w, DepthToSpace's CRD order) into one Conv, whose output DepthToSpace
 * interleaves; a Slice drops the padding. The stacked kernel comes from one MatMul of the
 * weight's taps by a 0/1 selection matrix (pad, phase split and flip at once, exact).
 * A 1x1 kernel has one non-zero phase: its 1x1 conv output is spread by a zero Pad instead.
 * Returns undefined where it does not apply (dilation, unequal strides): ConvTranspose then.
 */
function subConvInputGrad(g: Graph, dy: string, w: string, xShape: number[], p: ConvParams): string | undefined {
  const [m, cg, kh, kw] = staticShape(g, w);
  const [sh, sw] = p.strides;
  if (sh !== sw || sh < 2 || p.dilations.some((d) => d !== 1)) return undefined;
  const s = sh;
  const [n, c, h, wd] = xShape;
  const [, , ho, wo] = staticShape(g, dy);
  const [pt, pl] = p.pads;
  const group = p.group;
  const crop = (t: string, hh: number, ww: number): string => {
    // t covers padded rows [0, hh) and columns [0, ww); keep [pt, pt + h) x [pl, pl + wd).
    const extra = [Math.max(0, pt + h - hh), Math.max(0, pl + wd - ww)];
    const grown = extra[0] + extra[1] > 0 ? g.op('Pad', [t, g.ints([0, 0, 0, 0, 0, 0, extra[0], extra[1]])]) : t;
    if (pt === 0 && pl === 0 && hh + extra[0] === h && ww + extra[1] === wd) return grown;
    return g.op('Slice', [grown, g.ints([pt, pl]), g.ints([pt + h, pl + wd]), g.ints([2, 3])]);
  };
  if (kh === 1 && kw === 1) {
    const dense = g.op('Conv', [dy, flippedKernel(g, w, group)], { group });
    const spread = g.op('Pad', [g.op('Reshape', [dense, g.ints([n, c, ho, 1, wo, 1])]), g.ints([0, 0, 0, 0, 0, 0, 0, 0, 0, s - 1, 0, s - 1])]);
    return crop(g.op('Reshape', [spread, g.ints([n, c, ho * s, wo * s])]), ho * s, wo * s);
  }
  if (kh < s || kw < s) return undefined;
  const ah = Math.ceil(kh / s);
  const aw = Math.ceil(kw / s);
  const qh = Math.ceil((h + pt) / s);
  const qw = Math.ceil((wd + pl) / s);
  if (qh < ho || qw < wo) return undefined;
  // select[i*kw + j, ((r_h*s + r_w)*ah + b_h)*aw + b_w] = 1 where i = r_h + s*(ah-1-b_h), j likewise.
  const cols = s * s * ah * aw;
  const select = new Float32Array(kh * kw * cols);
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const col = (((i % s) * s + (j % s)) * ah + (ah - 1 - Math.floor(i / s))) * aw + (aw - 1 - Math.floor(j / s));
      select[(i * kw + j) * cols + col] = 1;
    }
  }
  const phases = g.op('MatMul', [g.op('Reshape', [w, g.ints([m * cg, kh * kw])]), g.floats(select, [kh * kw, cols])]);
  let stacked: string;
  if (cg === 1 && m === group) stacked = g.op('Reshape', [phases, g.ints([c * s * s, 1, ah, aw])]);
  else {
    const split = g.op('Reshape', [phases, g.ints([group, m / group, cg, s, s, ah, aw])]);
    stacked = g.op('Reshape', [g.op('Transpose', [split], { perm: [0, 2, 3, 4, 1, 5, 6] }), g.ints([c * s * s, m / group, ah, aw])]);
  }
  const conv = g.op('Conv', [dy, stacked], { pads: [ah - 1, aw - 1, qh - ho, qw - wo], group });
  return crop(g.op('DepthToSpace', [conv], { blocksize: s, mode: 'CRD' }), qh * s, qw * s);
}

/** The strided window of tap (i, j) over a padded input, one [.., .., Ho, Wo] slice. */
function tapSlice(g: Graph, padded: string, i: number, j: number, outHW: number[], p: ConvParams): string {
  const [sh, sw] = p.strides;
  const [dh, dw] = p.dilations;
  const h0 = i * dh;
  const w0 = j * dw;
  const shape = staticShape(g, padded);
  const h1 = h0 + sh * (outHW[0] - 1) + 1;
  const w1 = w0 + sw * (outHW[1] - 1) + 1;
  if (h0 === 0 && w0 === 0 && sh === 1 && sw === 1 && h1 === shape[2] && w1 === shape[3]) return padded;
  return g.op('Slice', [padded, g.ints([h0, w0]), g.ints([h1, w1]), g.ints([2, 3]), g.ints([sh, sw])]);
}

function padSpatial(g: Graph, x: string, pads: number[]): string {
  if (pads.every((v) => v === 0)) return x;
  return g.op('Pad', [x, g.ints([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]])]);
}

export function convWeightGrad(g: Graph, dy: string, x: string, wShape: number[], p: ConvParams): string {
  const [m, cg, kh, kw] = wShape;
  if (p.group === 1) return denseWeightGrad(g, dy, x, wShape, p);
  if (cg === 1 && m === p.group) return depthwiseWeightGradForm() === 'taps' ? depthwiseWeightGradByTaps(g, dy, x, wShape, p) : depthwiseWeightGrad(g, dy, x, wShape, p);
  // General groups: one dense weight gradient per group.
  const xs = g.node('Split', [x, g.ints(Array(p.group).fill(cg))], { axis: 1 }, { outputs: p.group });
  const dys = g.node('Split', [dy, g.ints(Array(p.group).fill(m / p.group))], { axis: 1 }, { outputs: p.group });
  const parts = xs.map((xi, k) => denseWeightGrad(g, dys[k], xi, [m / p.group, cg, kh, kw], { ...p, group: 1 }));
  return g.op('Concat', parts, { axis: 0 });
}

/**
 * How depthwise convolutions get their weight gradient: 'conv' (one grouped Conv,
 * depthwiseWeightGrad) or 'taps' (per-tap Slice + Mul + sum, depthwiseWeightGradByTaps). Set by
 * HEADSTART_DEPTHWISE_DW=taps for A/B measurements (bench/step-ab.ts +dwtaps) and the exactness test.
 */
function depthwiseWeightGradForm(): 'conv' | 'taps' {
  return process.env.HEADSTART_DEPTHWISE_DW === 'taps' ? 'taps' : 'conv';
}

/**
 * Depthwise weight gradient as one Conv: dW[c, 0, i, j] = sum over n of the correlation of image
 * n's channel c (padded) with its dY[n, c] (dilated by the stride). With the batch folded into
 * the channels ([1, N*C, H, W], group N*C) each group is one channel of one image, its "kernel"
 * the Ho x Wo output gradient; the conv's stride is the forward dilation and its dilation the
 * forward stride. Out come the per-image gradients [1, N*C, kh, kw] (cropped when the forward
 * conv's floor left rows unused), summed over the batch. No im2col tensor, no per-tap pass:
 * 2.8x less CPU than the per-tap form over MobileNetV2/EfficientNet-B0's depthwise layers at
 * b16 (4-7x on the strided ones); within 1e-6 relative of float64 (test/engine-depthwise-dw.test.ts).
 */
function depthwiseWeightGrad(g: Graph, dy: string, x: string, wShape: number[], p: ConvParams): string {
  const [c, , kh, kw] = wShape;
  const [n, , h, w] = staticShape(g, x);
  const [, , ho, wo] = staticShape(g, dy);
  const images = g.op('Reshape', [x, g.ints([1, n * c, h, w])]);
  const kernels = g.op('Reshape', [dy, g.ints([n * c, 1, ho, wo])]);
  const perImage = g.op('Conv', [images, kernels], { group: n * c, pads: p.pads, strides: p.dilations, dilations: p.strides });
  // Marked like sumOverNHW's first step: per-image partial sums of a reduction over the batch.
  g.notes.set(g.nodes[g.nodes.length - 1].name, { batchReduction: true });
  const [, , oh, ow] = staticShape(g, perImage);
  const cropped = oh === kh && ow === kw ? perImage : g.op('Slice', [perImage, g.ints([0, 0]), g.ints([kh, kw]), g.ints([2, 3])]);
  const summed = g.op('ReduceSum', [g.op('Reshape', [cropped, g.ints([n, c * kh * kw])]), g.ints([0])], { keepdims: 0 });
  return g.op('Reshape', [summed, g.ints([c, 1, kh, kw])]);
}

/** Depthwise weight gradient tap by tap: dW[c, 0, i, j] = sum over n, h, w of dY * shifted X. */
function depthwiseWeightGradByTaps(g: Graph, dy: string, x: string, wShape: number[], p: ConvParams): string {
  const [m, , kh, kw] = wShape;
  const yShape = staticShape(g, dy);
  const outHW = [yShape[2], yShape[3]];
  const padded = padSpatial(g, x, p.pads);
  const taps: string[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const prod = g.op('Mul', [tapSlice(g, padded, i, j, outHW, p), dy]);
      taps.push(sumOverNHW(g, prod));
    }
  }
  const stacked =
    taps.length === 1
      ? taps[0]
      : g.op(
          'Concat',
          taps.map((t) => g.op('Unsqueeze', [t, g.ints([1])])),
          { axis: 1 },
        );
  return g.op('Reshape', [stacked, g.ints([m, 1, kh, kw])]);
}

function denseWeightGrad(g: Graph, dy: string, x: string, wShape: number[], p: ConvParams): string {
  const [m, c, kh, kw] = wShape;
  const yShape = staticShape(g, dy);
  const [n, , ho, wo] = yShape;
  if (p.strides[0] === 1 && p.strides[1] === 1 && kh * kw > 1 && ho >= SHIFT_MIN_SIZE) return shiftedWeightGrad(g, dy, x, wShape, p);
  const outHW = [ho, wo];
  // [C, N, H, W] so that every tap slice concatenates into im2col rows [kh*kw*C, N*Ho*Wo].
  const xt = g.op('Transpose', [x], { perm: [1, 0, 2, 3] });
  const padded = padSpatial(g, xt, p.pads);
  const taps: string[] = [];
  for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) taps.push(tapSlice(g, padded, i, j, outHW, p));
  const cols = g.op('Reshape', [taps.length === 1 ? taps[0] : g.op('Concat', taps, { axis: 0 }), g.ints([kh * kw * c, n * ho * wo])]);
  const dyt = g.op('Reshape', [g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }), g.ints([m, n * ho * wo])]);
  const dw = g.op('Gemm', [dyt, cols], { transB: 1 });
  if (kh === 1 && kw === 1) return g.op('Reshape', [dw, g.ints([m, c, 1, 1])]);
  const r = g.op('Reshape', [dw, g.ints([m, kh, kw, c])]);
  return g.op('Transpose', [r], { perm: [0, 3, 1, 2] });
}

/** Below this output size the padding overhead of the shifted form outweighs its savings. */
const SHIFT_MIN_SIZE = 28;

/**
 * Stride-1 weight gradient without im2col: lay the padded, transposed input out flat as
 * [C, N*Hp*Wp] and dY on the same padded grid (zeros outside the output). Then tap (i, j)
 * is the input shifted by i*d*Wp + j*d along that flat axis — one contiguous Slice — and
 * dW[:, :, i, j] = dY_flat . X_shift^T, one Gemm per tap, no 9x-sized Concat.
 * Measured (bench/_dw.ts, 16x64x56x56): ~20% faster than im2col + one Gemm.
 */
function shiftedWeightGrad(g: Graph, dy: string, x: string, wShape: number[], p: ConvParams): string {
  const [m, c, kh, kw] = wShape;
  const [n, , h, w] = staticShape(g, x);
  const [, , ho, wo] = staticShape(g, dy);
  const [pt, pl, pb, pr] = p.pads;
  const [dh, dw] = p.dilations;
  const hp = h + pt + pb;
  const wp = w + pl + pr;
  const total = n * hp * wp;
  const span = total - ((kh - 1) * dh * wp + (kw - 1) * dw);
  const xFlat = g.op('Reshape', [padSpatial(g, g.op('Transpose', [x], { perm: [1, 0, 2, 3] }), p.pads), g.ints([c, total])]);
  const dyGrid = g.op('Pad', [g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }), g.ints([0, 0, 0, 0, 0, 0, hp - ho, wp - wo])]);
  const dyFlat = g.op('Slice', [g.op('Reshape', [dyGrid, g.ints([m, total])]), g.ints([0]), g.ints([span]), g.ints([1])]);
  const taps: string[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const offset = i * dh * wp + j * dw;
      const shifted = g.op('Slice', [xFlat, g.ints([offset]), g.ints([offset + span]), g.ints([1])]);
      taps.push(g.op('Unsqueeze', [g.op('Gemm', [dyFlat, shifted], { transB: 1 }), g.ints([2])]));
    }
  }
  return g.op('Reshape', [g.op('Concat', taps, { axis: 2 }), g.ints([m, c, kh, kw])]);
}

/**
 * ConvTranspose output sizes, with every attribute the spec defines: output_shape (pads then
 * follow from it), auto_pad (SAME_*: input size x stride), output_padding, dilations, group.
 */
registerOp({
  type: 'ConvTranspose',
  infer: (g, node) => {
    const x = g.shape(node.inputs[0]);
    const w = g.shape(node.inputs[1]);
    if (x.length < 3 || w.length !== x.length)
      throw new GraphError('E_SHAPE_MISMATCH', `ConvTranspose needs an [N, C, spatial...] input and a [C, M/group, kernel...] weight of the same rank, found ranks ${x.length} and ${w.length}`, {
        hint: 'check the input layout (NCHW)',
      });
    const r = x.length - 2;
    const group = intAttr(node, 'group', 1);
    const kernel = intsAttr(node, 'kernel_shape', w.slice(2));
    const strides = intsAttr(node, 'strides', new Array<number>(r).fill(1));
    const dilations = intsAttr(node, 'dilations', new Array<number>(r).fill(1));
    const outputPadding = intsAttr(node, 'output_padding', new Array<number>(r).fill(0));
    const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
    const pads = autoPad === 'NOTSET' ? intsAttr(node, 'pads', new Array<number>(2 * r).fill(0)) : new Array<number>(2 * r).fill(0);
    const outputShape = intsAttr(node, 'output_shape', []);
    let spatial: number[];
    if (outputShape.length > 0) spatial = outputShape.length === r + 2 ? outputShape.slice(2) : outputShape;
    else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') spatial = x.slice(2).map((d, i) => (d < 0 ? -1 : d * strides[i]));
    else spatial = x.slice(2).map((d, i) => (d < 0 ? -1 : strides[i] * (d - 1) + outputPadding[i] + dilations[i] * (kernel[i] - 1) + 1 - pads[i] - pads[i + r]));
    if (spatial.length !== r) throw new GraphError('E_BAD_GRAPH', `output_shape [${outputShape}] has ${outputShape.length} values for ${r} spatial axes`, { hint: 'one size per spatial axis' });
    return [{ dtype: g.dtype(node.inputs[0]), shape: [x[0], w[1] * group, ...spatial] }];
  },
});
