/**
 * The browser side of the "try it" page, bundled for the page by scripts/build-web.ts
 * (dist/web/core.js): the classifier metadata read from the model bytes (onnxruntime-web
 * cannot read metadata_props) and the eval preprocessing — the same Resize + CenterCrop +
 * Normalize code `headstart predict` runs, PIL-exact — on the pixels the browser decoded.
 * Imports nothing from Node.
 */
import { readClassifierMetadataFromBytes, type ClassifierMetadata } from '../infer/classifier-metadata.js';
import type { PreprocessSpec } from '../data/preprocess.js';
import { createRgbImage } from '../data/rgb-image.js';
import { centerCrop } from '../data/transforms/center-crop.js';
import { normalizationTable, writeNormalized } from '../data/transforms/normalize.js';
import { resize } from '../data/transforms/resize.js';
import { Random } from '../random.js';

/** Class names, preprocessing and provenance stored in model.onnx. */
export function readModelMetadata(bytes: Uint8Array, source = 'model.onnx'): ClassifierMetadata {
  return readClassifierMetadataFromBytes(bytes, source);
}

/** The normalised CHW input of one image from its RGBA pixels (canvas ImageData), as predict makes it. */
export function preprocessRgba(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number, spec: PreprocessSpec): Float32Array {
  const img = createRgbImage(width, height);
  for (let i = 0, j = 0; i < width * height; i++, j += 4) {
    img.data[i * 3] = rgba[j];
    img.data[i * 3 + 1] = rgba[j + 1];
    img.data[i * 3 + 2] = rgba[j + 2];
  }
  const rng = new Random(0); // the eval transform draws no random numbers
  const resized = resize(spec.resizeSize, spec.interpolation).apply(img, rng);
  const cropped = centerCrop(spec.inputSize).apply(resized, rng);
  const out = new Float32Array(3 * cropped.width * cropped.height);
  writeNormalized(cropped, normalizationTable(spec.mean, spec.std), out);
  return out;
}

/** Softmax of one row of logits (max-subtracted, as predict computes it). */
export function softmaxRow(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
