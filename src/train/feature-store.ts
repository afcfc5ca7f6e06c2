/**
 * The feature cache's file, written as the features are computed and read back in chunks,
 * so neither side ever holds more than the feature matrices themselves (no per-row objects,
 * no whole-file buffer, no serialised copy).
 *
 * Layout (little-endian):
 *   "HSFEAT02"                      magic + format version
 *   rows                            float32 [dim] per row, pass after pass, in batch order
 *   trailer JSON (utf-8)            { key, dim, passes: [{ split, rows, indices }], train, val
 *                                     (sample paths and labels), skipped }
 *   u32 trailer length, "HSFEND02"  so a reader finds the trailer from the end
 * A file that lacks the end marker (truncated: a crash, a full disk, a partial copy), has
 * another magic (another version) or whose sizes disagree is reported as a problem, never
 * read as features; the caller recomputes it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const STORE_MAGIC = Buffer.from('HSFEAT02', 'latin1');
const END_MAGIC = Buffer.from('HSFEND02', 'latin1');

export interface StorePass {
  split: 'train' | 'val';
  /** Rows written by this pass. */
  rows: number;
  /** Per row: the position of its sample in the split's sample list. */
  indices: number[];
}

/** A split's sample list, which the passes' row indices refer to. */
export interface StoreSamples {
  paths: string[];
  labels: number[];
}

export interface StoreTrailer {
  key: string;
  dim: number;
  passes: StorePass[];
  train: StoreSamples;
  val: StoreSamples;
  /** Sample paths skipped (unreadable) in any pass: left out of every view. */
  skipped: string[];
  /** Why each of `skipped` was skipped (same order; absent in caches written before it was kept). */
  skipReasons?: string[];
}

/** Appends rows to a temp file as they come; `finish` writes the trailer. */
export class FeatureStoreWriter {
  private readonly passes: StorePass[] = [];
  private position = STORE_MAGIC.length;
  private dim = 0;

  private constructor(private readonly fh: FileHandle) {}

  static async create(path: string): Promise<FeatureStoreWriter> {
    const fh = await open(path, 'w');
    await fh.write(STORE_MAGIC, 0, STORE_MAGIC.length, 0);
    return new FeatureStoreWriter(fh);
  }

  beginPass(split: 'train' | 'val'): void {
    this.passes.push({ split, rows: 0, indices: [] });
  }

  /** Rows [n, dim] of the current pass, for the samples at `indices` of the split. */
  async append(rows: Float32Array, dim: number, indices: ArrayLike<number>): Promise<void> {
    if (this.dim === 0) this.dim = dim;
    if (dim !== this.dim) throw new RangeError(`FeatureStoreWriter: rows of ${dim} values after rows of ${this.dim}`);
    const pass = this.passes[this.passes.length - 1];
    const n = rows.length / dim;
    const bytes = Buffer.from(rows.buffer, rows.byteOffset, n * dim * 4);
    await this.fh.write(bytes, 0, bytes.length, this.position);
    this.position += bytes.length;
    pass.rows += n;
    for (let i = 0; i < n; i++) pass.indices.push(indices[i]);
  }

  /** Writes the trailer; `skipped` maps each left-out sample path to why (or is a list of paths). */
  async finish(key: string, samples: { train: StoreSamples; val: StoreSamples }, skipped: Iterable<string> | ReadonlyMap<string, string>, dim: number): Promise<void> {
    const reasons = skipped instanceof Map ? (skipped as ReadonlyMap<string, string>) : undefined;
    const paths = reasons ? [...reasons.keys()] : [...(skipped as Iterable<string>)];
    const trailer: StoreTrailer = {
      key,
      dim: this.dim || dim,
      passes: this.passes,
      train: samples.train,
      val: samples.val,
      skipped: paths,
      ...(reasons ? { skipReasons: paths.map((p) => reasons.get(p)!) } : {}),
    };
    const json = Buffer.from(JSON.stringify(trailer), 'utf8');
    const tail = Buffer.alloc(4 + END_MAGIC.length);
    tail.writeUInt32LE(json.length, 0);
    END_MAGIC.copy(tail, 4);
    await this.fh.write(Buffer.concat([json, tail]), 0, json.length + tail.length, this.position);
    await this.fh.sync();
    await this.fh.close();
  }

  async abandon(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** What a cache file holds, or why it cannot be used. */
export type StoreCheck = { ok: true; trailer: StoreTrailer; fd: number } | { ok: false; problem: string };

/** Reads up to `length` bytes at `position` into `b` (from its start); returns how many came. */
function readInto(fd: number, b: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, b, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function readAt(fd: number, length: number, position: number): Buffer {
  const b = Buffer.alloc(length);
  return b.subarray(0, readInto(fd, b, length, position));
}

/**
 * Opens and validates a cache file (magic, end marker, trailer, sizes). On success the file
 * stays open (`fd`) for `readStoreRows`; close it with `closeStore`.
 */
export function checkStore(path: string, key?: string): StoreCheck {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return { ok: false, problem: `cannot open it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
  }
  const fail = (problem: string): StoreCheck => {
    closeSync(fd);
    return { ok: false, problem };
  };
  const size = fstatSync(fd).size;
  const head = readAt(fd, STORE_MAGIC.length, 0);
  if (head.length < STORE_MAGIC.length) return fail(`it is truncated (${size} bytes)`);
  if (!head.equals(STORE_MAGIC)) {
    const seen = head.toString('latin1');
    return fail(/^HSFEAT\d\d$/.test(seen) ? `it is from another version of headstart (${seen}, this one reads ${STORE_MAGIC.toString('latin1')})` : 'it is not a headstart feature cache');
  }
  const endLength = 4 + END_MAGIC.length;
  if (size < STORE_MAGIC.length + endLength) return fail(`it is truncated (${size} bytes, no end marker)`);
  const tail = readAt(fd, endLength, size - endLength);
  if (!tail.subarray(4).equals(END_MAGIC)) return fail(`it is truncated or was not finished (${size} bytes, no end marker)`);
  const jsonLength = tail.readUInt32LE(0);
  const dataEnd = size - endLength - jsonLength;
  if (dataEnd < STORE_MAGIC.length) return fail('its trailer is damaged');
  let trailer: StoreTrailer;
  try {
    trailer = JSON.parse(readAt(fd, jsonLength, dataEnd).toString('utf8')) as StoreTrailer;
  } catch {
    return fail('its trailer is damaged');
  }
  if (key !== undefined && trailer.key !== key) return fail(`it holds features for another key (${String(trailer.key).slice(0, 12)}...)`);
  const rows = trailer.passes.reduce((n, p) => n + p.rows, 0);
  if (!(trailer.dim > 0) || STORE_MAGIC.length + rows * trailer.dim * 4 !== dataEnd) {
    return fail(`its size disagrees with its trailer (${rows} rows of ${trailer.dim} values, ${dataEnd - STORE_MAGIC.length} bytes of data)`);
  }
  return { ok: true, trailer, fd };
}

export function closeStore(fd: number): void {
  closeSync(fd);
}

/**
 * Reads the rows of pass `p` (in chunks of at most `chunkBytes`) and places row r at
 * out[target(r) * dim] when target(r) >= 0 (rows of left-out samples are skipped).
 */
export function readStoreRows(fd: number, trailer: StoreTrailer, p: number, target: (row: number) => number, out: Float32Array, chunkBytes = 4 << 20): void {
  const dim = trailer.dim;
  const chunkRows = Math.max(1, Math.floor(chunkBytes / (dim * 4)));
  let position = STORE_MAGIC.length;
  for (let q = 0; q < p; q++) position += trailer.passes[q].rows * dim * 4;
  const rows = trailer.passes[p].rows;
  const chunk = new Float32Array(Math.min(rows, chunkRows) * dim);
  const bytes = Buffer.from(chunk.buffer);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, rows - r0);
    // Into the one chunk buffer: a fresh buffer per chunk is garbage the size of the matrix.
    const got = readInto(fd, bytes, n * dim * 4, position);
    if (got !== n * dim * 4) throw new RangeError(`feature cache: short read (${got} of ${n * dim * 4} bytes)`);
    position += got;
    for (let i = 0; i < n; i++) {
      const t = target(r0 + i);
      if (t >= 0) out.set(chunk.subarray(i * dim, (i + 1) * dim), t * dim);
    }
  }
}
