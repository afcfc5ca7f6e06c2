/**
 * Rasterises an SVG (curves.png) with sharp's librsvg. Text uses the system's sans-serif
 * font (DejaVu Sans on Debian), the font the layout's width estimates assume.
 */
import sharp from 'sharp';
import { z } from 'zod';
import { parseOrThrow } from '../zod-issues.js';

const OptionsSchema = z.object({ scale: z.number().min(0.25).max(8).default(2) }).strict();
export type SvgToPngOptions = z.input<typeof OptionsSchema>;

/** PNG bytes of an SVG document; `scale` 2 gives a sharp image on high-density screens. */
export async function svgToPng(svg: string, options?: SvgToPngOptions): Promise<Buffer> {
  const { scale } = parseOrThrow(OptionsSchema, options ?? {}, 'svgToPng: invalid options');
  return sharp(Buffer.from(svg), { density: 72 * scale })
    .png({ compressionLevel: 9 })
    .toBuffer();
}
