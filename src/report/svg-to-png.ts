/**
 * Rasterises an SVG (curves.png) with sharp's librsvg. Text uses the system's sans-serif
 * font (DejaVu Sans on Debian), the font the layout's width estimates assume.
 */
import sharp from 'sharp';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

const OptionsSchema = z.object({ scale: z.number().min(0.25).max(8).default(2) }).strict();
export type SvgToPngOptions = z.input<typeof OptionsSchema>;

/** PNG bytes of an SVG document; `scale` 2 gives a sharp image on high-density screens. */
export async function svgToPng(svg: string, options?: SvgToPngOptions): Promise<Buffer> {
  const r = OptionsSchema.safeParse(options ?? {});
  if (!r.success) throw new ConfigError(`svgToPng: invalid options: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return sharp(Buffer.from(svg), { density: 72 * r.data.scale }).png({ compressionLevel: 9 }).toBuffer();
}
