import { inflateSync } from 'fflate';
import { WeightsError } from '../errors.js';

/**
 * The entries of a zip archive. Stored (uncompressed) entries, which is how torch.save
 * writes its records, are returned as views into `bytes` without copying: on a 100 MB
 * checkpoint that saves a copy of the whole file. Deflated entries are inflated by fflate.
 * ZIP64 archives (over 4 GiB or 65535 entries) are supported.
 */
export function readZipEntries(bytes: Uint8Array, file: string): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (what: string): never => {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${file}\` is a damaged zip archive (${what})`, { hint: 'the file is probably truncated: download or copy it again' });
  };
  const u16 = (at: number) => (at + 2 <= bytes.length ? view.getUint16(at, true) : bad('unexpected end of file'));
  const u32 = (at: number) => (at + 4 <= bytes.length ? view.getUint32(at, true) : bad('unexpected end of file'));
  const u64 = (at: number) => {
    if (at + 8 > bytes.length) bad('unexpected end of file');
    const v = view.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? bad('offset too large') : Number(v);
  };

  // End of central directory: within the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let at = bytes.length - 22; at >= 0 && at >= bytes.length - 22 - 0xffff; at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) bad('no end-of-central-directory record');
  let count = u16(eocd + 10);
  let cdOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    const z64 = u64(eocd - 20 + 8);
    if (u32(z64) !== 0x06064b50) bad('bad ZIP64 end-of-central-directory record');
    count = u64(z64 + 32);
    cdOffset = u64(z64 + 48);
  }

  const entries = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  let at = cdOffset;
  for (let i = 0; i < count; i++) {
    if (u32(at) !== 0x02014b50) bad(`bad central directory entry ${i}`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    let csize = u32(at + 20);
    let usize = u32(at + 24);
    const nameLen = u16(at + 28);
    const extraLen = u16(at + 30);
    const commentLen = u16(at + 32);
    let local = u32(at + 42);
    if (at + 46 + nameLen > bytes.length) bad('unexpected end of file');
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLen));
    // ZIP64 extra field: the 64-bit values of the fields that are saturated, in order.
    for (let e = at + 46 + nameLen, end = e + extraLen; e + 4 <= end;) {
      const id = u16(e);
      const size = u16(e + 2);
      if (id === 0x0001) {
        let p = e + 4;
        if (usize === 0xffffffff) {
          usize = u64(p);
          p += 8;
        }
        if (csize === 0xffffffff) {
          csize = u64(p);
          p += 8;
        }
        if (local === 0xffffffff) local = u64(p);
      }
      e += 4 + size;
    }
    at += 46 + nameLen + extraLen + commentLen;
    if (flags & 1) bad(`entry ${name} is encrypted`);
    if (u32(local) !== 0x04034b50) bad(`bad local header for ${name}`);
    const data = local + 30 + u16(local + 26) + u16(local + 28);
    if (data + csize > bytes.length) bad(`entry ${name} runs past the end of the file`);
    const raw = bytes.subarray(data, data + csize);
    if (method === 0) {
      if (csize !== usize) bad(`stored entry ${name} has two sizes`);
      entries.set(name, raw);
    } else if (method === 8) {
      try {
        entries.set(name, inflateSync(raw, { out: new Uint8Array(usize) }));
      } catch (cause) {
        bad(`entry ${name}: ${(cause as Error).message}`);
      }
    } else {
      bad(`entry ${name} uses compression method ${method}`);
    }
  }
  return entries;
}
