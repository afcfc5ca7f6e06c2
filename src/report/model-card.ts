/**
 * MODEL_CARD.md of a run: what the model is, the data it saw (fingerprint and counts), its
 * classes, the recipe, its val metrics with intervals, its intended use and limits, and how to
 * load it in Node, the browser and Python. Plain Markdown, built only from what the run knows.
 */
import type { ClassificationMetrics } from '../metrics/classification.js';
import type { ReportClassAccuracy } from './explain-sections.js';

export interface ModelCardInput {
  model: string;
  mode: 'finetune' | 'features';
  classes: readonly string[];
  /** config.json of the run (the resolved configuration, `data`, `preprocess`, `versions`). */
  config: Record<string, unknown>;
  metrics?: ClassificationMetrics;
  perClass?: ReportClassAccuracy[];
  bestEpoch?: number;
  /** Images per class in train and val. */
  counts?: { train: number[]; val: number[] };
  /** Lines that qualify the numbers (e.g. train accuracy under MixUp). */
  notes?: string[];
}

const pct = (v: number, d = 1): string => `${(v * 100).toFixed(d)}%`;
const cell = (v: unknown): string => String(typeof v === 'string' ? v : JSON.stringify(v)).replace(/\|/g, '\\|');

interface Preprocess {
  inputSize: number;
  resizeSize: number;
  mean: number[];
  std: number[];
  interpolation: string;
}

export function renderModelCard(c: ModelCardInput): string {
  const cfg = c.config;
  const data = (cfg.data ?? {}) as Record<string, unknown>;
  const pre = cfg.preprocess as Preprocess | undefined;
  const versions = (cfg.versions ?? {}) as Record<string, unknown>;
  const L: string[] = [];
  L.push(`# Model card: ${c.model}, ${c.classes.length}-class image classifier`);
  L.push('');
  L.push(
    `Written by headstart ${cell(versions.headstart ?? '')} on ${cell(cfg.created_at ?? 'an unknown date')}. The model is \`model.onnx\` in this folder: a standard ONNX graph (input \`images\`, float32 [N, 3, ${pre?.inputSize ?? 'S'}, ${pre?.inputSize ?? 'S'}]; output \`logits\`, [N, ${c.classes.length}]) with its class names and preprocessing in its metadata (\`metadata_props\` key \`headstart\`).`,
  );
  L.push('');
  L.push('## Model');
  L.push('');
  L.push(
    `- Architecture: \`${c.model}\`, ${c.mode === 'finetune' ? 'fine-tuned (the network trained further from its starting weights, with a new classifier)' : 'feature extraction (the network frozen at its starting weights, a new linear classifier trained on its features)'}.`,
  );
  L.push(`- Starting weights: ${cell(cfg.weightsSource ?? cfg.weights ?? 'the model’s pretrained weights')}.`);
  if (c.bestEpoch !== undefined) L.push(`- Kept weights: those of epoch ${c.bestEpoch} of ${cell(cfg.epochs)}, the best val accuracy.`);
  L.push('');
  L.push('## Data');
  L.push('');
  L.push(
    `- Folder: \`${cell(data.root ?? '?')}\`; val images ${data.val_source === 'split' ? `split from train (${cell(cfg.valSplit)} of each class, seed ${cell(cfg.seed)})` : 'from its val/ folder'}.`,
  );
  L.push(`- Fingerprint (sha256 of every file's path, size and bytes): \`${cell(data.sha256 ?? 'unknown')}\`.`);
  L.push(
    `- ${cell(data.train_images ?? '?')} train and ${cell(data.val_images ?? '?')} val images${Array.isArray(data.skipped_images) && data.skipped_images.length ? `; ${data.skipped_images.length} unreadable file(s) skipped (listed in config.json)` : ''}.`,
  );
  L.push('');
  L.push('| # | class | train | val |');
  L.push('|---:|---|---:|---:|');
  c.classes.forEach((name, i) => L.push(`| ${i} | ${cell(name)} | ${c.counts?.train[i] ?? '?'} | ${c.counts?.val[i] ?? '?'} |`));
  L.push('');
  L.push('## Training recipe');
  L.push('');
  const recipe: [string, unknown][] = [
    ['recipe', cfg.recipe],
    ['epochs', cfg.epochs],
    ['batch size', cfg.batchSize],
    ['learning rate', cfg.lr],
    ['optimiser', cfg.optimizer],
    ['schedule', cfg.scheduler],
    ['augmentation', cfg.augment],
    ['MixUp alpha', cfg.mixup ?? 0],
    ['CutMix alpha', cfg.cutmix ?? 0],
    ['label smoothing', cfg.labelSmoothing],
    ['seed', cfg.seed],
  ];
  L.push('| setting | value |');
  L.push('|---|---|');
  for (const [k, v] of recipe) if (v !== undefined) L.push(`| ${k} | \`${cell(v)}\` |`);
  L.push('');
  L.push('Everything else is in `config.json`; `report.html` has the curves, the per-batch learning rate and loss, and the images the model gets most wrong.');
  L.push('');
  L.push('## Metrics (val set, kept weights)');
  L.push('');
  if (c.metrics) {
    const a = c.metrics.accuracy;
    const conf = Math.round(a.confidence * 100);
    L.push(`- Accuracy **${pct(a.estimate, 2)}** (${a.correct} of ${a.total}), ${conf}% Wilson interval [${pct(a.lower)}, ${pct(a.upper)}].`);
    L.push(`- Macro precision ${c.metrics.macro.precision.toFixed(3)}, recall ${c.metrics.macro.recall.toFixed(3)}, F1 ${c.metrics.macro.f1.toFixed(3)}.`);
    if (c.perClass?.length) {
      L.push('');
      L.push(`| class | accuracy | correct | ${conf}% interval |`);
      L.push('|---|---:|---:|---|');
      for (const p of c.perClass)
        L.push(p.estimate === null ? `| ${cell(p.name)} | - | 0 / 0 | no val images |` : `| ${cell(p.name)} | ${pct(p.estimate)} | ${p.correct} / ${p.total} | [${pct(p.lower!)}, ${pct(p.upper!)}] |`);
    }
  } else L.push('No val predictions were recorded.');
  if (c.notes?.length) L.push('');
  for (const n of c.notes ?? []) L.push(`- Note: ${n}`);
  L.push('');
  L.push('## Intended use and limits');
  L.push('');
  L.push(
    `- Intended use: sorting images like those in the training folder into these ${c.classes.length} classes. It always answers with one of them: an image of anything else still gets a class, often with high probability.`,
  );
  L.push(
    '- The numbers above hold for images drawn like the val set. Another camera, lighting, framing or population can lower them; check on a sample of your own data (`headstart evaluate model.onnx <folder>`).',
  );
  L.push(
    `- The val set is small evidence when the intervals above are wide${c.metrics && c.metrics.accuracy.total < 200 ? ` (${c.metrics.accuracy.total} images here)` : ''}; the best epoch was chosen on it, so its accuracy is slightly optimistic.`,
  );
  if (cfg.weights !== 'none') L.push('- The pretrained weights carry the biases of their source data (e.g. ImageNet); this card does not measure them.');
  L.push('');
  L.push('## Loading the model');
  L.push('');
  L.push(
    'Preprocessing (the same everywhere): decode to RGB, resize the shorter side to ' +
      `${pre?.resizeSize ?? '?'} (${pre?.interpolation ?? 'bilinear'}), centre-crop ${pre?.inputSize ?? '?'}x${pre?.inputSize ?? '?'}, scale to [0, 1], subtract mean ${JSON.stringify(pre?.mean ?? [])} and divide by std ${JSON.stringify(pre?.std ?? [])} per channel, CHW layout; softmax the logits.`,
  );
  L.push('');
  L.push('Node, with headstart (reads the classes and preprocessing from the file):');
  L.push('');
  L.push('```js');
  L.push("import { predict } from 'headstart';");
  L.push("const { predictions } = await predict('model.onnx', ['photo.jpg']);");
  L.push('console.log(predictions[0].top[0]); // { index, label, probability }');
  L.push('```');
  L.push('');
  L.push("Browser, with onnxruntime-web (it cannot read `metadata_props`: headstart's `readClassifierMetadataFromBytes` reads the classes and preprocessing from the bytes):");
  L.push('');
  L.push('```js');
  L.push("import * as ort from 'onnxruntime-web';");
  L.push("const bytes = new Uint8Array(await (await fetch('model.onnx')).arrayBuffer());");
  L.push('const session = await ort.InferenceSession.create(bytes);');
  L.push(`// x: Float32Array of 3*${pre?.inputSize ?? 'S'}*${pre?.inputSize ?? 'S'} values, preprocessed as above`);
  L.push(`const { logits } = await session.run({ images: new ort.Tensor('float32', x, [1, 3, ${pre?.inputSize ?? 'S'}, ${pre?.inputSize ?? 'S'}]) });`);
  L.push('```');
  L.push('');
  L.push('Python, with onnxruntime and Pillow:');
  L.push('');
  L.push('```python');
  L.push('import json, numpy as np, onnxruntime as ort');
  L.push('from PIL import Image');
  L.push("session = ort.InferenceSession('model.onnx')");
  L.push("meta = json.loads(session.get_modelmeta().custom_metadata_map['headstart'])");
  L.push("p = meta['preprocess']");
  L.push("img = Image.open('photo.jpg').convert('RGB')");
  L.push("w, h, r, c = img.width, img.height, p['resizeSize'], p['inputSize']");
  L.push("img = img.resize((r, int(r * h / w)) if w <= h else (int(r * w / h), r), Image.BICUBIC if p['interpolation'] == 'bicubic' else Image.BILINEAR)");
  L.push('left, top = int(round((img.width - c) / 2)), int(round((img.height - c) / 2))');
  L.push('img = img.crop((left, top, left + c, top + c))');
  L.push("x = (np.asarray(img, np.float32) / 255 - p['mean']) / p['std']");
  L.push("logits = session.run(['logits'], {'images': x.transpose(2, 0, 1)[None].astype(np.float32)})[0]");
  L.push("print(meta['classes'][int(logits.argmax())])");
  L.push('```');
  L.push('');
  return L.join('\n');
}
