/**
 * The files a finished run leaves in its output folder: model.onnx (the whole classifier,
 * through src/infer/model-file.ts), history.json/.csv, curves.svg/.png, confusion.svg,
 * report.html (with the most confidently wrong val images as thumbnails), config.json and
 * classes.json. All written atomically.
 */
import { join, relative } from 'node:path';
import sharp from 'sharp';
import type { PreprocessSpec } from '../data/preprocess.js';
import { classifierBytes, writeClassifier, type ClassifierMetadataInput } from '../infer/model-file.js';
import { predictSnippet, PREDICT_SNIPPET_FILE } from '../infer/predict-snippet.js';
import { recordVerification } from '../infer/verification.js';
import type { VerificationRecord } from '../infer/verification-record.js';
import type { Pipeline } from '../data/pipeline.js';
import { reliabilitySvg } from '../report/reliability-svg.js';
import { fitModelTrust, logitsOfFiles, unknownFiles, verificationImages, type ModelTrust, type TrustOptions } from './model-trust.js';
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
  reliabilitySvg: 'reliability.svg',
  reliabilityPng: 'reliability.png',
  snippet: PREDICT_SNIPPET_FILE,
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
  /** Calibration, "unknown" threshold and self-check (src/train/model-trust.ts); none when left out. */
  trust?: TrustOptions & { evalTransform: Pipeline; threads?: number };
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

/** The classifier metadata with the fitted calibration and threshold. */
function trustMetadata(base: ClassifierMetadataInput, t: ModelTrust): ClassifierMetadataInput {
  const c = t.calibration;
  return {
    ...base,
    ...(c
      ? {
          calibration: {
            temperature: c.temperature,
            fittedOn: 'val',
            images: c.images,
            eceBefore: c.before.ece,
            eceAfter: c.after.ece,
            nllBefore: c.before.nll,
            nllAfter: c.after.nll,
          },
        }
      : {}),
    ...(t.rejection ? { rejection: t.rejection } : {}),
  };
}

/** Fits the trust part (calibration, threshold) and records the self-check; writes model.onnx. */
async function writeModel(o: RunOutputsInput, modelPath: string): Promise<ModelTrust> {
  const best = bestEpoch(o.history);
  const base: ClassifierMetadataInput = {
    model: o.spec.name,
    classes: o.classes,
    preprocess: o.preprocess,
    mode: o.mode,
    ...(best ? { bestValAcc: best.val_acc } : {}),
    epochs: o.history.epochs.length,
  };
  const t = o.trust;
  if (!t) {
    await writeClassifier(modelPath, o.spec, o.params, base);
    return {};
  }
  const k = o.classes.length;
  const trust = await fitModelTrust(o.predictions, k, t, async () => {
    const files = await unknownFiles(t.unknownDir!);
    const logits = await logitsOfFiles(classifierBytes(o.spec, o.params, base).bytes, files, t.evalTransform, o.preprocess.inputSize, k, t.threads);
    return { logits, images: logits.length / k };
  });
  const meta = trustMetadata(base, trust);
  let verification: VerificationRecord | undefined;
  if (t.verifySamples > 0 && o.predictions.labels.length > 0) {
    const images = await verificationImages(o.predictions, o.classes, t.evalTransform, t.verifySamples);
    if (images.length) {
      const built = classifierBytes(o.spec, o.params, meta);
      verification = await recordVerification(built.bytes, built.metadata, images, { threads: t.threads });
    }
  }
  const written = await writeClassifier(modelPath, o.spec, o.params, meta, verification ? { verification } : {});
  await writeFileAtomic(join(o.out, OUTPUT_FILES.snippet), predictSnippet(written));
  if (trust.calibration) {
    const svg = reliabilitySvg(trust.calibration);
    await writeFileAtomic(join(o.out, OUTPUT_FILES.reliabilitySvg), svg);
    await writeFileAtomic(join(o.out, OUTPUT_FILES.reliabilityPng), await svgToPng(svg));
  }
  return trust;
}

export async function writeRunOutputs(o: RunOutputsInput): Promise<{ modelPath: string; metrics: ClassificationMetrics | undefined; trust: ModelTrust }> {
  const modelPath = join(o.out, OUTPUT_FILES.model);
  const trust = await writeModel(o, modelPath);
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
    {
      classes: o.classes,
      history: o.history,
      config: o.config,
      ...(metrics ? { metrics } : {}),
      mistakes,
      timings: o.timings,
      generatedAt: new Date().toISOString(),
      trust: { ...(trust.calibration ? { calibration: trust.calibration } : {}), ...(trust.rejection ? { rejection: trust.rejection } : {}) },
    },
    { title: `headstart: ${o.spec.name}, ${o.mode === 'features' ? 'feature extraction' : 'fine-tuning'}` },
  );
  await writeFileAtomic(join(o.out, OUTPUT_FILES.report), html);
  return { modelPath, metrics, trust };
}
