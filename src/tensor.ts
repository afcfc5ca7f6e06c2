/** A tensor held in JavaScript memory: weights, batches, gradients. Row-major, dense. */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'bool';

export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** Named tensors, in the order a checkpoint or state dict lists them. */
export type NamedTensors = Map<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Whether two shapes are equal dimension by dimension (not merely in element count). */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function float32(shape: number[], data?: Float32Array): HostTensor {
  return { dtype: 'float32', shape, data: data ?? new Float32Array(numel(shape)) };
}

/** Permutes a float32 tensor's axes (like numpy.transpose), into a new contiguous tensor. */
export function permute(t: HostTensor, perm: readonly number[]): HostTensor {
  const src = t.data as Float32Array;
  const rank = t.shape.length;
  const outShape = perm.map((p) => t.shape[p]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= t.shape[i];
  }
  const stepIn = perm.map((p) => inStrides[p]);
  const out = new Float32Array(src.length);
  const idx = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let o = 0; o < out.length; o++) {
    out[o] = src[offset];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      offset += stepIn[d];
      if (idx[d] < outShape[d]) break;
      offset -= stepIn[d] * outShape[d];
      idx[d] = 0;
    }
  }
  return { dtype: 'float32', shape: outShape, data: out };
}
