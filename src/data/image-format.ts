/**
 * Which image formats headstart reads, how file names map to them, and what a file's first
 * bytes say it really is (so a PNG named .jpg, or a text file named .jpg, can be told apart).
 */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff';

const EXTENSIONS: Record<string, ImageFormat> = {
  '.jpg': 'jpeg',
  '.jpeg': 'jpeg',
  '.jpe': 'jpeg',
  '.jfif': 'jpeg',
  '.png': 'png',
  '.webp': 'webp',
  '.gif': 'gif',
  '.tif': 'tiff',
  '.tiff': 'tiff',
};

/** The format a file name claims, from its extension (case-insensitive); null if not an image name. */
export function formatFromName(name: string): ImageFormat | null {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return null;
  return EXTENSIONS[name.slice(dot).toLowerCase()] ?? null;
}

/** What the content is, from its magic bytes. */
export type SniffedKind = ImageFormat | 'empty' | 'text' | 'unknown';

function startsWith(b: Uint8Array, sig: number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  for (let i = 0; i < sig.length; i++) if (b[at + i] !== sig[i]) return false;
  return true;
}

/** Looks at the first bytes of a file and says which image format (if any) it holds. */
export function sniffFormat(bytes: Uint8Array): SniffedKind {
  if (bytes.length === 0) return 'empty';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0x47, 0x49, 0x46, 0x38])) return 'gif';
  if (startsWith(bytes, [0x52, 0x49, 0x46, 0x46]) && startsWith(bytes, [0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  // Printable ASCII / UTF-8 text in the first bytes: a text file under an image name.
  const n = Math.min(bytes.length, 512);
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127) || c >= 128) printable++;
    else if (c === 0) return 'unknown';
  }
  return printable === n ? 'text' : 'unknown';
}
