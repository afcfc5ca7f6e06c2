/**
 * The report's augmentation preview: random views of two training images (the first image of
 * two different classes) through the run's training transform, drawn from their own seeded
 * streams (the run's own draws are untouched), as small PNGs.
 */
import { relative } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../data/decode.js';
import type { Pipeline } from '../data/pipeline.js';
import type { RgbImage } from '../data/rgb-image.js';
import type { Sample } from '../data/sample.js';
import { keyedRandom } from '../random.js';
import type { ReportAugmentation, ReportImage } from '../report/explain-sections.js';

async function png(image: RgbImage, size?: number): Promise<ReportImage> {
  let s = sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), { raw: { width: image.width, height: image.height, channels: 3 } });
  if (size) s = s.resize(size, size, { fit: 'inside' });
  return { bytes: new Uint8Array(await s.png().toBuffer()), mime: 'image/png' };
}

/** Up to `images` training images, one per class where there are enough classes. */
function pick(samples: readonly Sample[], images: number): Sample[] {
  const out: Sample[] = [];
  const seen = new Set<number>();
  for (const s of samples) {
    if (out.length >= images) break;
    if (!seen.has(s.label)) {
      seen.add(s.label);
      out.push(s);
    }
  }
  for (const s of samples) if (out.length < images && !out.includes(s)) out.push(s);
  return out;
}

export async function augmentationPreview(
  transform: Pipeline,
  samples: readonly Sample[],
  o: { seed: number; root: string; images?: number; views?: number },
): Promise<ReportAugmentation | undefined> {
  const views = o.views ?? 16;
  const chosen = pick(samples, o.images ?? 2);
  const images: ReportAugmentation['images'] = [];
  for (const [k, sample] of chosen.entries()) {
    let image: RgbImage;
    try {
      image = await decodeImage(sample.path);
    } catch {
      continue; // an unreadable file has no preview; the run has already reported it
    }
    const side = transform.outputSize?.width;
    const out: ReportImage[] = [];
    for (let v = 0; v < views; v++) out.push(await png(transform.applyToImage(image, keyedRandom(o.seed, 0x7e57, k, v))));
    images.push({ file: relative(o.root, sample.path), original: await png(image, side), views: out });
  }
  return images.length ? { pipeline: transform.describe(), images } : undefined;
}
