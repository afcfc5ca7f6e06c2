/**
 * A stand-in for the image loader that costs (almost) nothing: batches of the loader's shape
 * ([n, 3, H, W] from the transform's output size), visited in the loader's order (the same
 * seeded shuffle, the same labels, indices and paths), whose pixels are one buffer of
 * normalised-looking values (standard normal draws) made once per batch size and handed out
 * again for every batch. No file is read, nothing is decoded or transformed.
 *
 * Given to train() as `hooks.batches`, it turns a fine-tuning epoch into what the epoch costs
 * without its data: bench:e2e runs the same epochs with the real loader and with this source,
 * and the difference is what the data costs an epoch (decoding, augmenting, and the cores the
 * loader takes from ONNX Runtime's threads).
 */
import { epochOrder, type BatchSource, type ImageBatch } from '../src/train/image-batches.js';
import { Random } from '../src/random.js';

export interface MemoryBatchSource {
  source: BatchSource;
  /** Batches handed out so far. */
  batches: number;
}

export function memoryBatchSource(seed = 0): MemoryBatchSource {
  const buffers = new Map<string, Float32Array>();
  const state: MemoryBatchSource = {
    batches: 0,
    source: (samples, transform, o) => {
      const size = transform.outputSize;
      if (!size) throw new Error(`memoryBatchSource: the pipeline ${transform.describe()} has no fixed output size`);
      const chw = 3 * size.width * size.height;
      const key = `${o.batchSize}x${chw}`;
      let pixels = buffers.get(key);
      if (!pixels) {
        // Standard normal draws: values like a normalised image's.
        const rng = new Random(seed);
        pixels = new Float32Array(o.batchSize * chw);
        for (let i = 0; i < pixels.length; i++) pixels[i] = rng.normal();
        buffers.set(key, pixels);
      }
      const images = pixels;
      const order = epochOrder(samples.length, o.shuffle, o.seed, o.epoch);
      async function* batches(): AsyncGenerator<ImageBatch> {
        for (let start = 0; start < order.length; start += o.batchSize) {
          const n = Math.min(o.batchSize, order.length - start);
          const indices = order.slice(start, start + n);
          state.batches++;
          yield {
            images: n === o.batchSize ? images : images.subarray(0, n * chw),
            labels: Int32Array.from(indices, (i) => samples[i].label),
            paths: Array.from(indices, (i) => samples[i].path),
            indices,
            size: n,
            release: () => undefined,
          };
        }
      }
      return batches();
    },
  };
  return state;
}
