import { WeightsError } from '../errors.js';
import { numel, type HostTensor } from '../tensor.js';
import { bfloat16ToFloat32, float16ToFloat32 } from './half.js';

/**
 * Element types of PyTorch storages and how a tensor view over one (offset, sizes,
 * strides) becomes a dense host tensor. Floats of every width become float32, small
 * integers widen to int32, int64 stays int64 (BigInt64Array), bool becomes 0/1 bytes.
 */
export type StorageDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** `torch.<Name>Storage` (the names torch.save writes) → element type. */
export const STORAGE_TYPES: Readonly<Record<string, StorageDType>> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** `torch.<dtype>` constants (used by `_rebuild_tensor_v3`) → element type. */
export const TORCH_DTYPES: Readonly<Record<string, StorageDType>> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  int16: 'int16',
  short: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
};

export const ELEMENT_BYTES: Readonly<Record<StorageDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export interface TensorView {
  dtype: StorageDType;
  /** In elements. */
  offset: number;
  shape: number[];
  /** In elements. */
  stride: number[];
}

type Elements = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** Typed view of storage bytes (copied when misaligned or big-endian). */
function elements(bytes: Uint8Array, dtype: StorageDType, bigEndian: boolean): Elements {
  const size = ELEMENT_BYTES[dtype];
  let b = bytes;
  // new Uint8Array(x) always copies (Buffer#slice would not).
  if (bigEndian && size > 1) {
    b = new Uint8Array(bytes);
    for (let i = 0; i + size <= b.length; i += size) b.subarray(i, i + size).reverse();
  } else if (b.byteOffset % size !== 0) {
    b = new Uint8Array(bytes);
  }
  const n = Math.floor(b.byteLength / size);
  const buf = b.buffer;
  const off = b.byteOffset;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buf, off, n);
    case 'float64':
      return new Float64Array(buf, off, n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf, off, n);
    case 'int64':
      return new BigInt64Array(buf, off, n);
    case 'int32':
      return new Int32Array(buf, off, n);
    case 'int16':
      return new Int16Array(buf, off, n);
    case 'int8':
      return new Int8Array(buf, off, n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf, off, n);
  }
}

/** The elements a strided view reads, in row-major order: a copy, or a view where allowed and contiguous. */
function gather<T extends Elements>(src: T, view: TensorView, mayShare: boolean): T {
  const { shape, stride, offset } = view;
  const n = numel(shape);
  const rank = shape.length;
  let contiguous = true;
  for (let d = rank - 1, expect = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  if (contiguous) return (mayShare ? src.subarray(offset, offset + n) : src.slice(offset, offset + n)) as T;
  const out = new (src.constructor as new (n: number) => T)(n);
  if (n === 0) return out;
  const counter = new Array<number>(rank).fill(0);
  const inner = rank - 1;
  const innerSize = shape[inner];
  const innerStride = stride[inner];
  let p = offset;
  let k = 0;
  for (;;) {
    // Innermost dimension as a tight loop; outer ones as an odometer.
    for (let i = 0, q = p; i < innerSize; i++, q += innerStride) out[k++] = src[q];
    let d = inner - 1;
    for (; d >= 0; d--) {
      counter[d]++;
      p += stride[d];
      if (counter[d] < shape[d]) break;
      p -= stride[d] * shape[d];
      counter[d] = 0;
    }
    if (d < 0) return out;
  }
}

export interface MaterialiseOptions {
  /** The storage bytes are big-endian (torch.save on a big-endian machine). */
  bigEndian?: boolean;
  /**
   * A contiguous float32/int64/int32/uint8 result may be a view of `storage` instead of a
   * copy (no copy of a 100 MB checkpoint); only when no other tensor views that storage.
   */
  mayShare?: boolean;
}

/**
 * Materialise `view` over `storage` (raw bytes of one storage) as a dense host tensor.
 * `name` is used in messages.
 */
export function materialiseView(storage: Uint8Array, view: TensorView, name: string, options: MaterialiseOptions = {}): HostTensor {
  const { bigEndian = false, mayShare = false } = options;
  const { dtype, shape, stride, offset } = view;
  const size = ELEMENT_BYTES[dtype];
  const available = Math.floor(storage.byteLength / size);
  const bad = (what: string): never => {
    throw new WeightsError('E_BAD_WEIGHTS', `Tensor \`${name}\`: ${what}`, { hint: 'the checkpoint is damaged or was written by an incompatible tool' });
  };
  if (shape.length !== stride.length) bad(`sizes [${shape}] and strides [${stride}] differ in rank`);
  if (!Number.isSafeInteger(offset) || offset < 0) bad(`bad storage offset ${offset}`);
  for (let d = 0; d < shape.length; d++) {
    if (!Number.isSafeInteger(shape[d]) || shape[d] < 0) bad(`bad size [${shape}]`);
    if (!Number.isSafeInteger(stride[d]) || stride[d] < 0) bad(`bad stride [${stride}]`);
  }
  const n = numel(shape);
  if (n > 0) {
    let last = offset;
    for (let d = 0; d < shape.length; d++) last += (shape[d] - 1) * stride[d];
    if (last >= available) {
      bad(`reads element ${last} of a storage of ${available} ${dtype} elements (sizes [${shape}], strides [${stride}], offset ${offset})`);
    }
  }
  // Bool is normalised in place below, so it never shares.
  const src = gather(elements(storage, dtype, bigEndian), view, mayShare && dtype !== 'bool');
  switch (dtype) {
    case 'float32':
      return { dtype: 'float32', shape, data: src as Float32Array };
    case 'float64':
      return { dtype: 'float32', shape, data: new Float32Array(src as Float64Array) };
    case 'float16':
      return { dtype: 'float32', shape, data: float16ToFloat32(src as Uint16Array) };
    case 'bfloat16':
      return { dtype: 'float32', shape, data: bfloat16ToFloat32(src as Uint16Array) };
    case 'int64':
      return { dtype: 'int64', shape, data: src as BigInt64Array };
    case 'int32':
      return { dtype: 'int32', shape, data: src as Int32Array };
    case 'int16':
    case 'int8':
      return { dtype: 'int32', shape, data: new Int32Array(src as Int16Array) };
    case 'uint8':
      return { dtype: 'uint8', shape, data: src as Uint8Array };
    case 'bool': {
      const b = src as Uint8Array;
      for (let i = 0; i < b.length; i++) b[i] = b[i] ? 1 : 0;
      return { dtype: 'bool', shape, data: b };
    }
  }
}
