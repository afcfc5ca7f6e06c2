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

export function float32(shape: number[], data?: Float32Array): HostTensor {
  return { dtype: 'float32', shape, data: data ?? new Float32Array(numel(shape)) };
}
