import { z } from 'zod';
import { ConfigError, WeightsError, type ErrorCode } from '../errors.js';
import { readFileOrThrow } from '../read-file.js';
import { parseOrThrow } from '../zod-issues.js';
import { numel, type HostTensor, type NamedTensors } from '../tensor.js';
import { ELEMENT_BYTES, materialiseView, type StorageDType } from './torch-storage.js';

/**
 * safetensors (Hugging Face's and timm's weight format): an 8-byte little-endian header
 * length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`
 * and the raw little-endian tensor bytes. The header is validated the way the reference
 * implementation does (sizes, offsets in range, contiguous and non-overlapping data).
 *
 * Reading gives the same types as the .pth reader: every float (F64, F16, BF16, F32)
 * becomes float32, I64 stays int64, I8/I16 widen to int32, U8 and BOOL stay bytes.
 * Tensors come in file order (by data offset). Aligned float32/int64/int32/uint8 tensors
 * are views of the input bytes, not copies: do not modify the input afterwards.
 */

/** safetensors dtype code → element type we read. */
const READ_DTYPES: Readonly<Record<string, StorageDType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
/** Codes of the format we know but do not read. */
const UNSUPPORTED_DTYPES = ['U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64'];

const WRITE_DTYPES: Readonly<Record<HostTensor['dtype'], string>> = {
  float32: 'F32',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  uint8: 'U8',
  bool: 'BOOL',
};

/** The reference implementation's limit, which also bounds what a bad header can make us allocate. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range inside the data section (after the header). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** Where the data section starts in the file. */
  dataStart: number;
}

const ReadOptionsSchema = z.strictObject({ fileName: z.string().optional() });
export type SafetensorsReadOptions = z.input<typeof ReadOptionsSchema>;

const WriteOptionsSchema = z.strictObject({ metadata: z.record(z.string(), z.string()).optional() });
export type SafetensorsWriteOptions = z.input<typeof WriteOptionsSchema>;

/** A JSON value that is a list of non-negative integers (a shape, or data offsets). */
function isNonNegativeIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function parse<S extends z.ZodType>(schema: S, options: unknown, what: string): z.output<S> {
  return parseOrThrow(schema, options ?? {}, `Invalid ${what} options`);
}

/** Parse and validate the header; the data bytes are not touched. */
export function parseSafetensorsHeader(bytes: Uint8Array, options?: SafetensorsReadOptions): SafetensorsHeader {
  const file = parse(ReadOptionsSchema, options, 'safetensors reader').fileName ?? 'safetensors file';
  const bad = (what: string, hint = 'the file is damaged or not a safetensors file', code: ErrorCode = 'E_BAD_WEIGHTS'): never => {
    throw new WeightsError(code, `\`${file}\`: ${what}`, { hint });
  };
  if (bytes.length < 8) bad(`truncated: ${bytes.length} bytes, shorter than the 8-byte header length`, 'download or copy the file again');
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) bad(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > bytes.length) bad(`truncated: the header says ${n} header bytes but only ${bytes.length - 8} follow`, 'download or copy the file again');
  let json: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
    if (!text.startsWith('{')) bad('the header is not a JSON object');
    json = JSON.parse(text);
  } catch (cause) {
    if (cause instanceof WeightsError) throw cause;
    bad(`the header is not valid JSON (${(cause as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('the header is not a JSON object');

  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const entries: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== 'string')) {
        bad('__metadata__ must map strings to strings');
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) return bad(`tensor \`${name}\`: expected {dtype, shape, data_offsets}`);
    if (typeof e.dtype !== 'string') return bad(`tensor \`${name}\`: missing dtype`);
    if (!(e.dtype in READ_DTYPES)) {
      if (UNSUPPORTED_DTYPES.includes(e.dtype)) {
        bad(
          `tensor \`${name}\` has dtype ${e.dtype}, which headstart does not read`,
          `supported: ${Object.keys(READ_DTYPES).join(', ')}; convert it, e.g. t.float(), before saving`,
          'E_UNSUPPORTED_DTYPE',
        );
      }
      bad(`tensor \`${name}\` has an unknown dtype \`${e.dtype}\``, `expected one of ${Object.keys(READ_DTYPES).join(', ')}`);
    }
    const shape = e.shape;
    if (!isNonNegativeIntList(shape)) {
      return bad(`tensor \`${name}\`: shape must be a list of non-negative integers, found ${JSON.stringify(shape)}`);
    }
    const off = e.data_offsets;
    if (!isNonNegativeIntList(off) || off.length !== 2 || off[1] < off[0]) {
      return bad(`tensor \`${name}\`: data_offsets must be [begin, end] with 0 <= begin <= end, found ${JSON.stringify(off)}`);
    }
    const want = numel(shape) * ELEMENT_BYTES[READ_DTYPES[e.dtype]];
    if (off[1] - off[0] !== want) {
      bad(`tensor \`${name}\`: data_offsets [${off}] span ${off[1] - off[0]} bytes, but ${e.dtype} [${shape}] needs ${want}`);
    }
    entries.push({ name, dtype: e.dtype, shape: [...shape], begin: off[0], end: off[1] });
  }

  // File order; then the data must be tiled exactly: no overlap, no gap, nothing past the end.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    if (e.begin < cursor) bad(`tensor \`${e.name}\`: data_offsets [${e.begin}, ${e.end}] overlap the previous tensor (which ends at ${cursor})`);
    if (e.begin > cursor) bad(`tensor \`${e.name}\`: data_offsets [${e.begin}, ${e.end}] leave a gap after byte ${cursor}`);
    cursor = e.end;
  }
  if (cursor > dataLength) {
    const last = entries[entries.length - 1];
    bad(`truncated or offsets out of range: tensor \`${last.name}\` ends at data byte ${last.end}, but the file has ${dataLength} data bytes`, 'download or copy the file again');
  }
  if (cursor < dataLength) bad(`${dataLength - cursor} bytes after the last tensor are not described by the header`);
  return { entries, metadata, dataStart };
}

/** Read every tensor from a safetensors file's bytes. */
export function readSafetensors(bytes: Uint8Array, options?: SafetensorsReadOptions): NamedTensors {
  const header = parseSafetensorsHeader(bytes, options);
  const out: NamedTensors = new Map();
  for (const e of header.entries) {
    const dtype = READ_DTYPES[e.dtype];
    const data = bytes.subarray(header.dataStart + e.begin, header.dataStart + e.end);
    const stride = new Array<number>(e.shape.length);
    for (let d = e.shape.length - 1, s = 1; d >= 0; d--) {
      stride[d] = s;
      s *= e.shape[d];
    }
    out.set(e.name, materialiseView(data, { dtype, offset: 0, shape: e.shape, stride }, e.name, { mayShare: true }));
  }
  return out;
}

/** Read a safetensors file (whole) from disk. */
export async function loadSafetensors(path: string, options?: SafetensorsReadOptions): Promise<NamedTensors> {
  const bytes = await readFileOrThrow(path, 'weight file', 'check the path given with --weights');
  return readSafetensors(bytes, { fileName: path, ...options });
}

/** Serialise tensors (in map order) as safetensors; the header is padded to 8 bytes. */
export function writeSafetensors(tensors: NamedTensors, options?: SafetensorsWriteOptions): Uint8Array {
  const { metadata } = parse(WriteOptionsSchema, options, 'safetensors writer');
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new ConfigError('E_BAD_ARGUMENT', 'A tensor cannot be named `__metadata__` in a safetensors file');
    const want = numel(t.shape) * ELEMENT_BYTES[t.dtype];
    if (t.data.byteLength !== want) {
      throw new ConfigError('E_SHAPE_MISMATCH', `Tensor \`${name}\`: ${t.data.byteLength} data bytes for ${t.dtype} [${t.shape}], expected ${want}`);
    }
    header[name] = { dtype: WRITE_DTYPES[t.dtype], shape: t.shape, data_offsets: [offset, offset + want] };
    offset += want;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
