/**
 * Reads an image's size and EXIF orientation from its header bytes, without decoding. The
 * loader needs the (oriented) size before it can sample a crop; doing this in JS for JPEG
 * and PNG saves a round trip through libvips per image. Anything unusual returns null and
 * the caller asks sharp instead.
 */

export interface ImageHeader {
  format: 'jpeg' | 'png';
  /** Size after the EXIF orientation is applied (what the decoder will deliver). */
  width: number;
  height: number;
  /** EXIF orientation 1..8 (1 when absent). */
  orientation: number;
}

function u16be(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

function u32be(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

/**
 * Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block starting at `start`;
 * 1 when absent, -1 when the entry is unusual (not one SHORT): the caller then asks libvips.
 */
function exifOrientation(b: Uint8Array, start: number, end: number): number {
  if (end - start < 8) return 1;
  const little = b[start] === 0x49 && b[start + 1] === 0x49;
  if (!little && !(b[start] === 0x4d && b[start + 1] === 0x4d)) return 1;
  const r16 = (i: number) => (little ? b[i] | (b[i + 1] << 8) : u16be(b, i));
  const r32 = (i: number) => (little ? (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0 : u32be(b, i));
  const ifd = start + r32(start + 4);
  if (ifd + 2 > end) return 1;
  const count = r16(ifd);
  for (let k = 0; k < count; k++) {
    const e = ifd + 2 + k * 12;
    if (e + 12 > end) return 1;
    if (r16(e) === 0x0112) {
      if (r16(e + 2) !== 3 || r32(e + 4) !== 1) return -1;
      const v = r16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

function readJpeg(b: Uint8Array): ImageHeader | null {
  let i = 2;
  let orientation = 1;
  let sawExif = false;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    const len = u16be(b, i + 2);
    if (len < 2 || i + 2 + len > b.length) return null;
    const seg = i + 4;
    if (marker === 0xe1 && !sawExif && len >= 8 && b[seg] === 0x45 && b[seg + 1] === 0x78 && b[seg + 2] === 0x69 && b[seg + 3] === 0x66 && b[seg + 4] === 0 && b[seg + 5] === 0) {
      sawExif = true;
      orientation = exifOrientation(b, seg + 6, i + 2 + len);
      if (orientation < 0) return null;
    }
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (len < 7) return null;
      const height = u16be(b, seg + 1);
      const width = u16be(b, seg + 3);
      if (width === 0 || height === 0) return null;
      const swap = orientation >= 5;
      return { format: 'jpeg', width: swap ? height : width, height: swap ? width : height, orientation };
    }
    if (marker === 0xda || marker === 0xd9) return null; // scan before a frame header: odd file
    i += 2 + len;
  }
  return null;
}

function readPng(b: Uint8Array): ImageHeader | null {
  if (b.length < 33 || u32be(b, 8) !== 13 || b[12] !== 0x49 || b[13] !== 0x48 || b[14] !== 0x44 || b[15] !== 0x52) return null;
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  if (width === 0 || height === 0) return null;
  // An eXIf chunk may carry an orientation: leave those to sharp.
  let i = 33;
  while (i + 8 <= b.length) {
    const len = u32be(b, i);
    const type = String.fromCharCode(b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
    if (type === 'eXIf') return null;
    if (type === 'IDAT' || type === 'IEND') break;
    i += 12 + len;
  }
  return { format: 'png', width, height, orientation: 1 };
}

/** The header of a JPEG or PNG, or null for other formats or anything the parser is unsure of. */
export function readImageHeader(bytes: Uint8Array): ImageHeader | null {
  if (bytes.length >= 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return readJpeg(bytes);
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return readPng(bytes);
  return null;
}
