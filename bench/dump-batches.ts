/** Batches written to disk for the PyTorch side of the real-data benches (raw tensors, no header). */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Writes the tensors of batches as raw little-endian float32 images + int32 labels, appending; returns the batch sizes. */
export async function dumpBatches(batches: AsyncIterable<{ images: Float32Array; labels: Int32Array; release(): void }>, imagesPath: string, labelsPath: string): Promise<number[]> {
  const fi = openSync(imagesPath, 'a');
  const fl = openSync(labelsPath, 'a');
  const sizes: number[] = [];
  try {
    for await (const b of batches) {
      writeSync(fi, new Uint8Array(b.images.buffer, b.images.byteOffset, b.images.byteLength));
      writeSync(fl, new Uint8Array(b.labels.buffer, b.labels.byteOffset, b.labels.byteLength));
      sizes.push(b.labels.length);
      b.release();
    }
  } finally {
    closeSync(fi);
    closeSync(fl);
  }
  return sizes;
}
