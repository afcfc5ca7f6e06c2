/**
 * predict.mjs, written beside model.onnx: how to run the model with plain onnxruntime-node
 * and sharp, its preprocessing spelled out (resize the shorter side, centre crop, RGB,
 * (x / 255 - mean) / std, NCHW), in under 40 lines. The values come from the model's metadata.
 */
import type { ClassifierMetadata } from './classifier-metadata.js';

export const PREDICT_SNIPPET_FILE = 'predict.mjs';

export function predictSnippet(m: ClassifierMetadata): string {
  const p = m.preprocess;
  return `// Classify images with model.onnx using plain onnxruntime-node and sharp (written by headstart).
// usage: node predict.mjs image.jpg [...]   (needs: npm install onnxruntime-node sharp)
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { fileURLToPath } from 'node:url';

const CLASSES = ${JSON.stringify(m.classes)};
const SIZE = ${p.inputSize}, RESIZE = ${p.resizeSize}, KERNEL = '${p.interpolation === 'bicubic' ? 'cubic' : 'linear'}';
const MEAN = ${JSON.stringify(p.mean)}, STD = ${JSON.stringify(p.std)};

// Shorter side to RESIZE, centre crop SIZE x SIZE, then (x / 255 - MEAN) / STD as float32 [1, 3, SIZE, SIZE].
async function preprocess(file) {
  const { data, info } = await sharp(file).rotate().removeAlpha().toColourspace('srgb')
    .resize(RESIZE, RESIZE, { fit: 'outside', kernel: KERNEL }).raw().toBuffer({ resolveWithObject: true });
  const left = Math.round((info.width - SIZE) / 2), top = Math.round((info.height - SIZE) / 2);
  const x = new Float32Array(3 * SIZE * SIZE);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < SIZE; y++)
      for (let i = 0; i < SIZE; i++)
        x[(c * SIZE + y) * SIZE + i] = (data[((top + y) * info.width + left + i) * info.channels + c] / 255 - MEAN[c]) / STD[c];
  return new ort.Tensor('float32', x, [1, 3, SIZE, SIZE]);
}

const session = await ort.InferenceSession.create(fileURLToPath(new URL('./model.onnx', import.meta.url)));
for (const file of process.argv.slice(2)) {
  const out = await session.run({ images: await preprocess(file) });
  // \`probabilities\` are calibrated (softmax of logits / T); \`unknown\` is true below the stored threshold.
  const probs = Array.from(out.probabilities?.data ?? out.logits.data.map(Math.exp));
  const sum = probs.reduce((a, b) => a + b, 0), best = probs.indexOf(Math.max(...probs));
  const unknown = out.unknown ? Boolean(out.unknown.data[0]) : false;
  const result = { file, label: unknown ? 'unknown' : CLASSES[best], guess: CLASSES[best], probability: probs[best] / sum, unknown };
  console.log(JSON.stringify({ ...result, probabilities: Object.fromEntries(CLASSES.map((c, i) => [c, probs[i] / sum])) }));
}
`;
}
