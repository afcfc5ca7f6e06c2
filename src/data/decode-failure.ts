/**
 * What a decoder's failure means for the user, in our words: sharp/libvips report in their
 * own terms ("Input buffer has corrupt header", "vipspng: libpng read error", "Warning treated
 * as error due to failOn setting"). The original message stays in the error's cause (shown
 * with --verbose).
 */

const RULES: readonly [RegExp, string][] = [
  [/buffer is empty|file is empty/i, 'the file is empty'],
  [/unsupported image format/i, 'not an image (or in a format headstart cannot read: JPEG, PNG, WebP, GIF, TIFF, AVIF, BMP)'],
  [/premature end|truncated|unexpected end|end of file|read error|not enough data/i, 'the file is truncated or its image data is damaged'],
  [/corrupt header|bad header|invalid header|not a .* file|improper call/i, 'its header is damaged'],
  [/corrupt|invalid|bad (huffman|marker|data)|crc/i, 'its image data is damaged'],
  [/warning treated as error/i, 'its image data is damaged (the decoder refuses files it would have to repair)'],
  // libjpeg's own words (the native JPEG decoder): "Bogus marker length", "Huffman table 0x01 was not defined", ...
  [/bogus|huffman|marker|quantization table|jpeg file structure|sampling factors|component/i, 'its image data is damaged'],
  [/too large|pixel limit|exceeds/i, 'it is larger than the decoder accepts'],
];

/** A short reason for a failed decode, from the decoder's message. */
export function describeDecodeFailure(message: string): string {
  for (const [pattern, reason] of RULES) if (pattern.test(message)) return reason;
  return `the decoder could not read it (${message.trim().split('\n')[0] || 'no detail'})`;
}
