/**
 * The files a finished run leaves in its output folder: model.onnx (the whole classifier,
 * through src/infer/model-file.ts), history.json/.csv, curves.svg/.png, confusion.svg,
 * report.html and report.json (the top losses as thumbnails, the most confused pairs, accuracy
 * per class with Wilson intervals, the learning rate and loss per batch, an augmentation
 * preview), MODEL_CARD.md, config.json and classes.json. All written atomically.
 */
import { join, relative } from 'node:path';
import sharp from 'sharp';
import type { PreprocessSpec } from '../data/preprocess.js';
import type { SplitRecord } from '../data/split-record.js';
import { classifierBytes, writeClassifier, type ClassifierMetadataInput } from '../infer/model-file.js';
import { predictSnippet, PREDICT_SNIPPET_FILE } from '../infer/predict-snippet.js';
import { recordVerification } from '../infer/verification.js';
import type { VerificationRecord } from '../infer/verification-record.js';
import type { Pipeline } from '../data/pipeline.js';
import { reliabilitySvg } from '../report/reliability-svg.js';
import { fitModelTrust, outputsOfSamples, unknownFiles, verificationImages, type FileOutputs, type ModelTrust, type TrustFeatures, type TrustOptions } from './model-trust.js';
import type { FeatureSet } from './feature-cache.js';
import { buildInferenceGraph } from '../graphs/network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import { confusionSvg } from '../report/confusion-svg.js';
import { curvesSvg } from '../report/curves.js';
import { renderHtmlReport } from '../report/html-report.js';
import type { ReportExplanation, ReportTopLoss } from '../report/explain-sections.js';
import { renderModelCard } from '../report/model-card.js';
import { topLosses } from '../metrics/top-losses.js';
import { mostConfused } from '../metrics/most-confused.js';
import { perClassAccuracy } from '../metrics/per-class-accuracy.js';
import type { Sample } from '../data/sample.js';
import { augmentationPreview } from './augmentation-preview.js';
import type { BatchRecord } from './listeners/batch-log.js';
import { svgToPng } from '../report/svg-to-png.js';
import type { NamedTensors } from '../tensor.js';
import { writeFileAtomic } from '../atomic-write.js';
import type { ValPredictions } from './mode-runner.js';
import { bestEpoch, historyToCsv, historyToJson, type History } from '../metrics/history.js';
import { argmaxRows, classificationMetrics, type ClassificationMetrics } from '../metrics/classification.js';

const OUTPUT_FILES = {
  model: 'model.onnx',
  historyJson: 'history.json',
  historyCsv: 'history.csv',
  curvesSvg: 'curves.svg',
  curvesPng: 'curves.png',
  confusion: 'confusion.svg',
  report: 'report.html',
  reportJson: 'report.json',
  modelCard: 'MODEL_CARD.md',
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
  /** Images in the top-losses gallery (default 24). */
  maxMistakes?: number;
  /** How val was obtained (recorded in model.onnx so evaluate can reproduce the split). */
  split?: SplitRecord;
  /** Loss and learning rate of every training step (listeners/batch-log.ts). */
  batches?: readonly BatchRecord[];
  /** The training images and transform, for the augmentation preview and the per-class counts. */
  train?: readonly Sample[];
  val?: readonly Sample[];
  trainTransform?: Pipeline;
  seed?: number;
  /** Calibration, "unknown" threshold and self-check (src/train/model-trust.ts); none when left out. */
  trust?: TrustOptions & { evalTransform: Pipeline; threads?: number; cachedFeatures?: FeatureSet };
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

/** The val images with the highest loss, with thumbnails. */
async function topLossGallery(p: ValPredictions, classes: string[], root: string, max: number): Promise<ReportTopLoss[]> {
  const out: ReportTopLoss[] = [];
  for (const t of topLosses(p.logits, p.labels, classes.length, max)) {
    const image = await thumbnail(p.paths[t.index]);
    out.push({
      file: relative(root, p.paths[t.index]),
      label: classes[t.label],
      predicted: classes[t.predicted],
      probability: t.probability,
      trueProbability: t.trueProbability,
      loss: t.loss,
      ...(image ? { image: { bytes: image, mime: 'image/png' as const } } : {}),
    });
  }
  return out;
}

function countsPerClass(samples: readonly Sample[] | undefined, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (const s of samples ?? []) c[s.label]++;
  return c;
}

/** What the report explains, from the run's val predictions, batches and transform. */
async function explanation(o: RunOutputsInput, metrics: ClassificationMetrics | undefined): Promise<ReportExplanation> {
  const e: ReportExplanation = { topLosses: await topLossGallery(o.predictions, o.classes, o.dataRoot, o.maxMistakes ?? 24) };
  if (metrics) {
    e.confused = mostConfused(metrics.confusion, { max: 20 }).map((c) => ({ actual: o.classes[c.actual], predicted: o.classes[c.predicted], count: c.count, share: c.share }));
    e.confidence = metrics.accuracy.confidence;
    e.perClass = perClassAccuracy(metrics.confusion, metrics.accuracy.confidence).map((c) => ({
      name: o.classes[c.index],
      correct: c.correct,
      total: c.total,
      estimate: c.interval?.estimate ?? null,
      lower: c.interval?.lower ?? null,
      upper: c.interval?.upper ?? null,
    }));
  }
  if (o.batches?.length) e.batches = [...o.batches];
  if (o.trainTransform && o.train?.length) {
    const aug = await augmentationPreview(o.trainTransform, o.train, { seed: o.seed ?? 0, root: o.dataRoot });
    if (aug) e.augmentation = aug;
  }
  const mix = [o.config.mixup, o.config.cutmix].some((v) => typeof v === 'number' && v > 0);
  if (mix) e.notes = ['Train accuracy is counted against the dominant label of each MixUp/CutMix pair, on mixed images: it is not comparable with val accuracy.'];
  return e;
}

/** report.json: the report's data without the image bytes. */
function reportJson(o: RunOutputsInput, e: ReportExplanation, metrics: ClassificationMetrics | undefined): string {
  const { augmentation, topLosses: losses, ...rest } = e;
  return (
    JSON.stringify(
      {
        model: o.spec.name,
        mode: o.mode,
        classes: o.classes,
        history: o.history.epochs,
        ...(metrics ? { metrics: { accuracy: metrics.accuracy, macro: metrics.macro, confusion: metrics.confusion } } : {}),
        topLosses: (losses ?? []).map(({ image: _image, ...t }) => t),
        ...rest,
        ...(augmentation ? { augmentation: { pipeline: augmentation.pipeline, images: augmentation.images.map((i) => ({ file: i.file, views: i.views.length })) } } : {}),
      },
      null,
      2,
    ) + '\n'
  );
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

/**
 * Train and val features for the mahalanobis score: the cached ones of feature extraction (the
 * rows the head trained on), else (fine-tuning) the training and val images through the final
 * weights, once, with the eval transform.
 */
async function trustFeatures(o: RunOutputsInput, outputs: (samples: readonly Sample[]) => Promise<FileOutputs>): Promise<TrustFeatures> {
  const cached = o.trust?.cachedFeatures;
  if (cached) {
    const n = cached.train.labels.length;
    const rows = new Float32Array(cached.train.views.length * n * cached.dim);
    const labels = new Int32Array(cached.train.views.length * n);
    cached.train.views.forEach((v, i) => {
      rows.set(v, i * n * cached.dim);
      labels.set(cached.train.labels, i * n);
    });
    return { dim: cached.dim, train: { features: rows, labels }, val: cached.val.views[0] };
  }
  const train = await outputs(o.train ?? []);
  const val = await outputs(o.val ?? []);
  const dim = train.labels.length ? train.features!.length / train.labels.length : 0;
  return { dim, train: { features: train.features!, labels: train.labels }, val: val.features! };
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
    ...(o.split ? { split: o.split } : {}),
  };
  const t = o.trust;
  if (!t) {
    await writeClassifier(modelPath, o.spec, o.params, base);
    return {};
  }
  const k = o.classes.length;
  // The network with its pooled features as a second output, built when first needed.
  let withFeatures: Uint8Array | undefined;
  const outputs = (samples: readonly { path: string; label: number }[]) => {
    withFeatures ??= buildInferenceGraph(o.spec, { batch: -1, numClasses: k, inputSize: o.preprocess.inputSize, constants: o.params, withFeatures: true }).bytes;
    return outputsOfSamples(withFeatures, samples, t.evalTransform, o.preprocess.inputSize, t.threads);
  };
  const trust = await fitModelTrust(o.predictions, k, t, {
    unknown: async () => outputs((await unknownFiles(t.unknownDir!)).map((path) => ({ path, label: -1 }))),
    features: async () => trustFeatures(o, outputs),
  });
  const meta = trustMetadata(base, trust);
  const distance = trust.featureDistance ? { featureDistance: trust.featureDistance } : {};
  let verification: VerificationRecord | undefined;
  if (t.verifySamples > 0 && o.predictions.labels.length > 0) {
    const images = await verificationImages(o.predictions, o.classes, t.evalTransform, t.verifySamples);
    if (images.length) {
      const built = classifierBytes(o.spec, o.params, meta, distance);
      verification = await recordVerification(built.bytes, built.metadata, images, { threads: t.threads });
    }
  }
  const written = await writeClassifier(modelPath, o.spec, o.params, meta, { ...distance, ...(verification ? { verification } : {}) });
  await writeFileAtomic(join(o.out, OUTPUT_FILES.snippet), predictSnippet(written));
  if (trust.calibration) {
    const svg = reliabilitySvg(trust.calibration);
    await writeFileAtomic(join(o.out, OUTPUT_FILES.reliabilitySvg), svg);
    await writeFileAtomic(join(o.out, OUTPUT_FILES.reliabilityPng), await svgToPng(svg));
  }
  return trust;
}

export async function writeRunOutputs(o: RunOutputsInput): Promise<{ modelPath: string; metrics: ClassificationMetrics | undefined; trust: ModelTrust }> {
  const best = bestEpoch(o.history);
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
  const explained = await explanation(o, metrics);
  const html = renderHtmlReport(
    {
      classes: o.classes,
      history: o.history,
      config: o.config,
      ...(metrics ? { metrics } : {}),
      explanation: explained,
      timings: o.timings,
      generatedAt: new Date().toISOString(),
      trust: { ...(trust.calibration ? { calibration: trust.calibration } : {}), ...(trust.rejection ? { rejection: trust.rejection } : {}) },
    },
    { title: `headstart: ${o.spec.name}, ${o.mode === 'features' ? 'feature extraction' : 'fine-tuning'}` },
  );
  await writeFileAtomic(join(o.out, OUTPUT_FILES.report), html);
  await writeFileAtomic(join(o.out, OUTPUT_FILES.reportJson), reportJson(o, explained, metrics));
  const card = renderModelCard({
    model: o.spec.name,
    mode: o.mode,
    classes: o.classes,
    config: o.config,
    ...(metrics ? { metrics } : {}),
    ...(explained.perClass ? { perClass: explained.perClass } : {}),
    ...(best ? { bestEpoch: best.epoch } : {}),
    ...(o.train && o.val ? { counts: { train: countsPerClass(o.train, o.classes.length), val: countsPerClass(o.val, o.classes.length) } } : {}),
    ...(explained.notes ? { notes: explained.notes } : {}),
  });
  await writeFileAtomic(join(o.out, OUTPUT_FILES.modelCard), card);
  return { modelPath, metrics, trust };
}
