/**
 * The files a finished run leaves in its output folder: model.onnx (the whole classifier,
 * through src/infer/model-file.ts), history.json/.csv, curves.svg/.png, confusion.svg,
 * report.html (with the most confidently wrong val images as thumbnails), config.json and
 * classes.json. All written atomically.
 */
import { join, relative } from 'node:path';
import sharp from 'sharp';
import type { PreprocessSpec } from '../data/preprocess.js';
import type { SplitRecord } from '../data/split-record.js';
import { writeClassifier } from '../infer/model-file.js';
import type { ModelSpec } from '../models/model-spec.js';
import { confusionSvg } from '../report/confusion-svg.js';
import { curvesSvg } from '../report/curves.js';
import { renderHtmlReport, type ReportMistake } from '../report/html-report.js';
import { svgToPng } from '../report/svg-to-png.js';
import type { NamedTensors } from '../tensor.js';
import { writeFileAtomic } from '../atomic-write.js';
import type { ValPredictions } from './mode-runner.js';
import { bestEpoch, historyToCsv, historyToJson, type History } from '../metrics/history.js';
import { argmaxRows, classificationMetrics, softmax, type ClassificationMetrics } from '../metrics/classification.js';

const OUTPUT_FILES = {
  model: 'model.onnx',
  historyJson: 'history.json',
  historyCsv: 'history.csv',
  curvesSvg: 'curves.svg',
  curvesPng: 'curves.png',
  confusion: 'confusion.svg',
  report: 'report.html',
  config: 'config.json',
  classes: 'classes.json',
} as const;

export interface RunOutputsInput {
  out: string;
  dataRoot: string;
  spec: ModelSpec;
  /** Every parameter of the network, best weights restored. */
  params: NamedTensors;
  classes: string[];
  preprocess: PreprocessSpec;
  mode: 'finetune' | 'features';
  history: History;
  /** Val predictions of the restored weights. */
  predictions: ValPredictions;
  config: Record<string, unknown>;
  timings: Record<string, number>;
  maxMistakes?: number;
  /** How val was obtained (recorded in model.onnx so evaluate can reproduce the split). */
  split?: SplitRecord;
}

export async function writeHistoryFiles(out: string, history: History): Promise<void> {
  await writeFileAtomic(join(out, OUTPUT_FILES.historyJson), historyToJson(history));
  await writeFileAtomic(join(out, OUTPUT_FILES.historyCsv), historyToCsv(history));
}

async function thumbnail(path: string): Promise<Uint8Array | undefined> {
  try {
    return await sharp(path).rotate().resize(96, 96, { fit: 'inside' }).png().toBuffer();
  } catch {
    return undefined; // an unreadable file simply has no thumbnail
  }
}

/** The most confidently wrong predictions, most confident first. */
async function confidentMistakes(p: ValPredictions, classes: string[], root: string, max: number): Promise<ReportMistake[]> {
  const k = classes.length;
  if (p.labels.length === 0) return [];
  const probs = softmax(p.logits, k);
  const pred = argmaxRows(p.logits, k);
  const wrong: { i: number; conf: number }[] = [];
  for (let i = 0; i < p.labels.length; i++) if (pred[i] !== p.labels[i]) wrong.push({ i, conf: probs[i * k + pred[i]] });
  wrong.sort((a, b) => b.conf - a.conf);
  const out: ReportMistake[] = [];
  for (const { i, conf } of wrong.slice(0, max)) {
    const image = await thumbnail(p.paths[i]);
    out.push({ file: relative(root, p.paths[i]), label: classes[p.labels[i]], predicted: classes[pred[i]], confidence: conf, ...(image ? { image, mime: 'image/png' as const } : {}) });
  }
  return out;
}

export async function writeRunOutputs(o: RunOutputsInput): Promise<{ modelPath: string; metrics: ClassificationMetrics | undefined }> {
  const best = bestEpoch(o.history);
  const modelPath = join(o.out, OUTPUT_FILES.model);
  await writeClassifier(modelPath, o.spec, o.params, {
    model: o.spec.name,
    classes: o.classes,
    preprocess: o.preprocess,
    mode: o.mode,
    ...(best ? { bestValAcc: best.val_acc } : {}),
    epochs: o.history.epochs.length,
    ...(o.split ? { split: o.split } : {}),
  });
  await writeHistoryFiles(o.out, o.history);
  await writeFileAtomic(join(o.out, OUTPUT_FILES.classes), JSON.stringify(o.classes, null, 2) + '\n');
  await writeFileAtomic(join(o.out, OUTPUT_FILES.config), JSON.stringify(o.config, null, 2) + '\n');
  if (o.history.epochs.length > 0) {
    const svg = curvesSvg(o.history);
    await writeFileAtomic(join(o.out, OUTPUT_FILES.curvesSvg), svg);
    await writeFileAtomic(join(o.out, OUTPUT_FILES.curvesPng), await svgToPng(svg));
  }
  let metrics: ClassificationMetrics | undefined;
  if (o.predictions.labels.length > 0) {
    const pred = argmaxRows(o.predictions.logits, o.classes.length);
    metrics = classificationMetrics(o.predictions.labels, pred, o.classes.length, { classNames: o.classes });
    await writeFileAtomic(join(o.out, OUTPUT_FILES.confusion), confusionSvg(metrics.confusion, o.classes));
  }
  const mistakes = await confidentMistakes(o.predictions, o.classes, o.dataRoot, o.maxMistakes ?? 24);
  const html = renderHtmlReport(
    { classes: o.classes, history: o.history, config: o.config, ...(metrics ? { metrics } : {}), mistakes, timings: o.timings, generatedAt: new Date().toISOString() },
    { title: `headstart: ${o.spec.name}, ${o.mode === 'features' ? 'feature extraction' : 'fine-tuning'}` },
  );
  await writeFileAtomic(join(o.out, OUTPUT_FILES.report), html);
  return { modelPath, metrics };
}
