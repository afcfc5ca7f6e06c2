/**
 * `train(dataRoot, options)`: the whole transfer-learning run behind `headstart train`.
 * Loads the data and the pretrained weights, picks the mode (auto: from the dataset's size
 * and a linear probe), runs the epoch loop with the fine-tuning or the feature-extraction
 * runner, keeps the best val weights, and writes the run's outputs. Everything the user sees
 * goes through events (src/train/events.ts) to listeners.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import ort from 'onnxruntime-node';
import { join, resolve } from 'node:path';
import {
  parseTrainOptions,
  RECIPES,
  requestedModel,
  resolveTrainConfig,
  type ConcreteMode,
  type ParsedTrainOptions,
  type ResolvedTrainConfig,
  type TrainOptions,
} from '../config.js';
import { buildEvalTransform, buildTrainTransform } from '../data/build-transforms.js';
import { scanImageFolder, type ImageFolder } from '../data/image-folder.js';
import type { Pipeline } from '../data/pipeline.js';
import type { PreprocessSpec } from '../data/preprocess.js';
import { keyedRandom, permutation } from '../data/random.js';
import type { Sample } from '../data/sample.js';
import type { SessionOptions } from '../engine/session.js';
import { ConfigError, TrainingError } from '../errors.js';
import { describeBnMomentum, resolveBnMomentum } from '../models/bn-momentum.js';
import type { ModelSpec } from '../models/model-spec.js';
import { getModel } from '../models/registry.js';
import { trainableFilter } from '../models/trainable.js';
import type { NamedTensors } from '../tensor.js';
import { removeStaleTemps } from '../atomic-write.js';
import { decideMode, linearProbe, type AutoDecision } from './auto-mode.js';
import { copyInto, readCheckpoint, type CheckpointState } from './checkpoint.js';
import { createRunContext } from './run-context.js';
import { balancedClassWeights } from './class-weights.js';
import { datasetHash } from './dataset-hash.js';
import { assertDeviceUsable } from './device-check.js';
import type { EpochRunner } from './epoch-runner.js';
import { EventBus } from './events.js';
import { featureCacheDir, featureCacheKey, loadOrExtractFeatures, type ExtractHooks, type FeatureSet } from './feature-cache.js';
import { createFinetuneRunner } from './finetune-runner.js';
import { createHeadRunner } from './head-runner.js';
import { bestEpoch, createHistory, type History } from './history.js';
import { loadInitialParams } from './initial-params.js';
import { checkpointSaver, CHECKPOINT_FILE } from './listeners/checkpoint-saver.js';
import { earlyStopping } from './listeners/early-stopping.js';
import { restoreBest, runEpochs, RunInterrupted, type LoopState } from './loop.js';
import type { ClassificationMetrics } from './metrics.js';
import { writeHistoryFiles, writeRunOutputs } from './run-outputs.js';
import { HEADSTART_VERSION } from './version.js';

export interface TrainResult {
  out: string;
  /** model.onnx, or null when the run was interrupted. */
  modelPath: string | null;
  model: string;
  mode: ConcreteMode;
  classes: string[];
  history: History;
  bestValAcc: number;
  bestEpoch: number;
  /** Wall time of the whole call. */
  seconds: number;
  /** Final val metrics of the kept weights. */
  metrics?: ClassificationMetrics;
  interrupted: boolean;
  /** Why the run stopped before its last epoch (early stopping), else null. */
  stoppedEarly: string | null;
  config: ResolvedTrainConfig;
  autoDecision?: AutoDecision;
  featureCache?: { path: string; hit: boolean; seconds: number };
}

/** Probe limits for --mode auto: enough to measure, small enough to stay quick. */
const PROBE_TRAIN = 1000;
const PROBE_VAL = 500;

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The preprocessing for a crop side (the model's own, or --input-size scaled with the same resize ratio). */
export function preprocessFor(spec: ModelSpec, inputSize?: number | null): PreprocessSpec {
  const p = spec.preprocess;
  if (!inputSize || inputSize === p.inputSize) return { ...p, mean: [...p.mean], std: [...p.std] } as PreprocessSpec;
  return { ...p, inputSize, resizeSize: Math.round((inputSize * p.resizeSize) / p.inputSize), mean: [...p.mean], std: [...p.std] } as PreprocessSpec;
}

function resolveSpec(model: string | ModelSpec): ModelSpec {
  return typeof model === 'string' ? getModel(model) : model;
}

/** A seeded subset of at most `max` samples (all of them when fewer). */
function subset(samples: readonly Sample[], max: number, seed: number): Sample[] {
  if (samples.length <= max) return [...samples];
  const order = permutation(keyedRandom(seed, 0xa070), samples.length);
  return Array.from(order.subarray(0, max), (i) => samples[i]).sort((a, b) => (a.path < b.path ? -1 : 1));
}

interface Loaded {
  spec: ModelSpec;
  folder: ImageFolder;
  preprocess: PreprocessSpec;
  trainTransform: Pipeline;
  evalTransform: Pipeline;
  params: NamedTensors;
  weightsId: string;
  weightsLabel: string;
  session: SessionOptions;
  threads: number;
}

function extractHooks(bus: EventBus, signal: AbortSignal | undefined): ExtractHooks {
  let batches = 0;
  return {
    async start(n, images) {
      batches = n;
      await bus.emit('phase_start', { epoch: 0, phase: 'extract', batches: n, images });
    },
    async batch(done, images) {
      await bus.emit('batch_end', { epoch: 0, phase: 'extract', batch: done, batches, images, loss: 0, acc: 0 });
    },
    async end(seconds, images) {
      await bus.emit('phase_end', { epoch: 0, phase: 'extract', loss: 0, acc: 0, images, seconds, images_per_s: seconds > 0 ? images / seconds : 0 });
    },
    checkStop() {
      if (signal?.aborted) throw new RunInterrupted();
    },
  };
}

async function features(
  l: Loaded,
  o: ParsedTrainOptions,
  bus: EventBus,
  train: readonly Sample[],
  val: readonly Sample[],
  views: number,
  onSkip: (path: string, reason: string) => void,
): Promise<{ set: FeatureSet; path: string; hit: boolean; seconds: number }> {
  const inputSize = l.preprocess.inputSize;
  const transform = `${views > 0 ? l.trainTransform.describe() : ''} | ${l.evalTransform.describe()}`;
  const key = await featureCacheKey({ train, val, model: l.spec.name, weightsId: l.weightsId, transform, inputSize, views, seed: o.seed });
  const cacheDir = o.cacheDir ? resolve(o.cacheDir) : featureCacheDir();
  const r = await loadOrExtractFeatures({
    spec: l.spec,
    params: l.params,
    inputSize,
    train,
    val,
    trainTransform: l.trainTransform,
    evalTransform: l.evalTransform,
    views,
    seed: o.seed,
    key,
    cacheDir,
    session: l.session,
    onSkip,
    hooks: extractHooks(bus, o.signal),
  });
  await bus.emit('log', {
    level: 'info',
    message: r.hit
      ? `features: reused the cache (${r.set.train.labels.length} train x ${r.set.train.views.length} view(s), ${r.set.val.labels.length} val) from ${r.path}`
      : `features: cached ${r.set.train.labels.length} train x ${r.set.train.views.length} view(s) and ${r.set.val.labels.length} val in ${r.path}`,
  });
  return r;
}

export async function train(dataRoot: string, options?: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  let o = parseTrainOptions(options);
  const bus = new EventBus(o.listeners);
  const log = (message: string, level: 'info' | 'warn' = 'info') => bus.emit('log', { level, message });
  const skipped = new Set<string>();
  const onSkip = (path: string, reason: string) => {
    if (skipped.has(path)) return;
    skipped.add(path);
    void bus.emit('skipped_image', { path, reason });
  };

  // Resuming: the checkpoint's configuration wins (a few run-time settings may change).
  const resumeDir = typeof o.resume === 'string' ? o.resume : o.resume ? o.out : undefined;
  if (o.resume && !resumeDir) {
    throw new ConfigError('--resume needs the folder of the run to continue', { hint: 'pass --resume <run folder> (or --out <run folder> --resume)' });
  }
  let resumed: CheckpointState | undefined;
  if (resumeDir) {
    const path = join(resumeDir, CHECKPOINT_FILE);
    if (!existsSync(path)) {
      throw new TrainingError(`No checkpoint to resume in \`${resumeDir}\` (expected ${CHECKPOINT_FILE})`, {
        hint: 'pass the output folder of an interrupted run; a run saves its checkpoint after each finished epoch',
      });
    }
    await removeStaleTemps(path);
    resumed = await readCheckpoint(path);
    // The run continues with its own settings: seed, data split, transforms, weights, mode.
    const c = resumed.config;
    o = {
      ...o,
      recipe: c.recipe,
      model: o.model ?? c.model,
      mode: c.mode,
      seed: c.seed,
      valSplit: c.valSplit,
      augment: c.augment,
      featureViews: c.featureViews,
      ...(c.inputSize !== null ? { inputSize: c.inputSize } : {}),
      ...(o.weights === undefined && c.weights !== null ? { weights: c.weights } : {}),
    };
  }

  await assertDeviceUsable(o.device);
  const model = requestedModel(o);
  const spec = resolveSpec(model);
  if (resumed && resumed.config.model !== spec.name) {
    throw new ConfigError(`The checkpoint in \`${resumeDir}\` was trained with --model ${resumed.config.model}, not ${spec.name}`, { hint: `resume with --model ${resumed.config.model}` });
  }

  const folder = await scanImageFolder(dataRoot, { valFraction: o.valSplit, seed: o.seed });
  for (const w of folder.warnings) await log(w, 'warn');
  const classes = folder.classes;
  if (resumed && JSON.stringify(resumed.classes) !== JSON.stringify(classes)) {
    throw new ConfigError(`The dataset's classes (${classes.join(', ')}) differ from the checkpoint's (${resumed.classes.join(', ')})`, {
      hint: 'resume on the dataset the run was started with',
    });
  }
  if (folder.train.length === 0 || folder.val.length === 0) {
    throw new ConfigError(`The dataset \`${dataRoot}\` has ${folder.train.length} train and ${folder.val.length} val images; training needs both`, {
      hint: 'add images, or lower --val-split for a root that holds only class folders',
    });
  }

  const inputSize = o.inputSize;
  const preprocess = preprocessFor(spec, inputSize);
  const augment = o.augment;
  const evalTransform = buildEvalTransform(preprocess);
  const trainTransform = augment ? buildTrainTransform(preprocess) : evalTransform;
  const threads = o.threads ?? resumed?.config.threads ?? os.availableParallelism();
  const device = o.device;
  const session: SessionOptions = { threads, device };

  const init = await loadInitialParams(spec, {
    weights: o.weights,
    numClasses: classes.length,
    inputSize: preprocess.inputSize,
    seed: o.seed,
    onDownloadProgress: (bytes, total) => {
      o.onDownloadProgress?.(bytes, total);
      void bus.emit('download', { bytes, total: total ?? null });
    },
  });
  for (const n of init.notes) await log(n);
  const loaded: Loaded = { spec, folder, preprocess, trainTransform, evalTransform, params: init.params, weightsId: init.weightsId, weightsLabel: init.weightsLabel, session, threads };

  // The mode: explicit, resumed, the recipe's, or decided from the data.
  let mode: ConcreteMode;
  let autoDecision: AutoDecision | undefined;
  let probeFeatures: Awaited<ReturnType<typeof features>> | undefined;
  const requested = o.mode ?? RECIPES[o.recipe].mode;
  if (requested === 'auto') {
    const probeTrain = subset(folder.train, PROBE_TRAIN, o.seed);
    const probeVal = subset(folder.val, PROBE_VAL, o.seed);
    probeFeatures = await features(loaded, o, bus, probeTrain, probeVal, 0, onSkip);
    const f = probeFeatures.set;
    const probeAcc = linearProbe({ x: f.train.views[0], y: f.train.labels }, { x: f.val.views[0], y: f.val.labels }, f.dim, classes.length, { seed: o.seed });
    autoDecision = decideMode({ trainImages: folder.train.length, numClasses: classes.length, probeAcc });
    mode = autoDecision.mode;
    await log(`--mode auto chose ${mode === 'features' ? 'feature extraction' : 'fine-tuning'}: ${autoDecision.reason}`);
    if (probeTrain.length !== folder.train.length || probeVal.length !== folder.val.length || o.featureViews > 0) probeFeatures = undefined;
  } else {
    mode = requested;
  }

  let config = resolveTrainConfig(o, mode, spec.name, init.weightsLabel, spec.bnMomentum);
  if (resumed) {
    // A checkpoint written before --bn-momentum existed continues under the policy's value.
    config = { ...resumed.config, bnMomentum: resumed.config.bnMomentum ?? config.bnMomentum, epochs: o.epochs ?? resumed.config.epochs, threads: o.threads ?? resumed.config.threads, device };
    if (config.epochs <= resumed.epoch) {
      await log(`the checkpoint already holds ${resumed.epoch} of ${config.epochs} epochs; pass a larger --epochs to train more`, 'warn');
    }
  }
  if (mode === 'finetune' && !config.freezeBn) {
    if (resumed) await log(`BatchNorm momentum ${config.bnMomentum} (torch convention), as the run was started with`);
    else await log(describeBnMomentum(spec.name, resolveBnMomentum(spec.bnMomentum, o.bnMomentum, RECIPES[o.recipe].bnMomentum)));
  }
  const out = resolve(resumeDir ?? o.out ?? join('runs', `${timestamp()}-${spec.name}-${mode}`));
  await mkdir(out, { recursive: true });

  const trainLabels = folder.train.map((s) => s.label);
  let classWeights: number[] | undefined;
  if (config.classWeights === 'auto') {
    classWeights = balancedClassWeights(trainLabels, classes.length);
    await log(`class weights (balanced): ${classes.map((c, i) => `${c} ${classWeights![i].toFixed(3)}`).join(', ')}`);
  } else if (Array.isArray(config.classWeights)) {
    if (config.classWeights.length !== classes.length) {
      throw new ConfigError(`--class-weights has ${config.classWeights.length} values for ${classes.length} classes (${classes.join(', ')})`, { hint: 'give one weight per class, in class order, or use --class-weights auto' });
    }
    classWeights = config.classWeights;
  }

  const state: LoopState = { epoch: 0, history: createHistory({ name: mode === 'features' ? 'feature extraction' : 'fine-tuning' }), best: null, stopReason: null };
  let runner: EpochRunner | undefined;
  let featureKey: string | undefined;
  let lastCheckpoint: string | null = resumed ? join(out, CHECKPOINT_FILE) : null;
  const ctx = createRunContext({ out, config, classes, state, bus, runner: () => runner, featureKey: () => featureKey });
  bus.attach(ctx);
  bus.add(checkpointSaver(out));
  bus.add({ checkpoint: (e) => void (lastCheckpoint = e.path) });
  if (config.earlyStop !== null) bus.add(earlyStopping(config.earlyStop));

  await bus.emit('run_start', {
    model: spec.name,
    mode,
    classes: [...classes],
    train_images: folder.train.length,
    val_images: folder.val.length,
    epochs: config.epochs,
    start_epoch: (resumed?.epoch ?? 0) + 1,
    out,
    device,
    threads,
  });

  // The runner of the chosen mode, then the epochs.
  let featureCache: TrainResult['featureCache'];
  const timings: Record<string, number> = {};
  let interrupted = false;
  try {
    if (mode === 'features') {
      const f = probeFeatures ?? (await features(loaded, o, bus, folder.train, folder.val, augment ? config.featureViews : 0, onSkip));
      featureCache = { path: f.path, hit: f.hit, seconds: f.seconds };
      featureKey = f.set.key;
      timings['feature extraction'] = f.seconds;
      if (resumed?.featureKey && resumed.featureKey !== featureKey) {
        await log('the cached features differ from those the checkpoint was trained on (the data, weights or transform changed)', 'warn');
      }
      runner = await createHeadRunner({ spec, params: init.params, numClasses: classes.length, features: f.set, config, classWeights, session });
    } else {
      const trainable = trainableFilter(spec, { mode: 'finetune', ...(config.unfreezeLast !== null ? { unfreezeLast: config.unfreezeLast } : {}) });
      runner = await createFinetuneRunner({
        spec,
        params: init.params,
        numClasses: classes.length,
        inputSize: preprocess.inputSize,
        train: folder.train,
        val: folder.val,
        trainTransform,
        evalTransform,
        config,
        trainable,
        classWeights,
        session,
        onSkip,
      });
    }

    if (resumed) {
      copyInto(runner.changing, resumed.params);
      runner.optimizer.loadStateDict(resumed.optimizer);
      runner.scheduler.loadStateDict(resumed.scheduler);
      state.epoch = resumed.epoch;
      state.history = resumed.history;
      state.best = resumed.best;
      await log(`resuming ${out} after epoch ${resumed.epoch}`);
    }
    await runEpochs({ runner, bus, config, state, signal: o.signal, checkpointPath: () => lastCheckpoint });
  } catch (err) {
    if (!(err instanceof RunInterrupted)) {
      await runner?.release();
      throw err;
    }
    interrupted = true;
  }

  const base = {
    out,
    model: spec.name,
    mode,
    classes: [...classes],
    config,
    ...(autoDecision ? { autoDecision } : {}),
    ...(featureCache ? { featureCache } : {}),
  };
  if (interrupted) {
    await runner?.release();
    if (state.history.epochs.length) await writeHistoryFiles(out, state.history);
    const message = lastCheckpoint
      ? `interrupted: epoch ${state.epoch} is saved in ${lastCheckpoint}; continue with: headstart train ${dataRoot} --resume ${out}`
      : 'interrupted before the first epoch finished: nothing to resume';
    await bus.emit('interrupted', { epoch: state.epoch, checkpoint: lastCheckpoint, message });
    const best = bestEpoch(state.history);
    return { ...base, modelPath: null, history: state.history, bestValAcc: best?.val_acc ?? 0, bestEpoch: best?.epoch ?? 0, seconds: (performance.now() - started) / 1000, interrupted: true, stoppedEarly: null };
  }

  const done = runner!;
  restoreBest(done, state);
  const predictions = await done.predictVal();
  await done.release();
  const best = bestEpoch(state.history);
  const seconds = (performance.now() - started) / 1000;
  timings.total = seconds;
  const configFile = {
    ...config,
    created_at: new Date().toISOString(),
    data: {
      root: resolve(dataRoot),
      classes,
      train_images: folder.train.length,
      val_images: folder.val.length,
      val_source: folder.valSource,
      skipped_images: [...skipped],
      sha256: await datasetHash(resolve(dataRoot), { train: folder.train, val: folder.val }),
    },
    preprocess,
    ...(autoDecision ? { auto: { chose: autoDecision.mode, probe_val_acc: autoDecision.probeAcc, reason: autoDecision.reason } } : {}),
    ...(featureCache ? { feature_cache: featureCache } : {}),
    versions: { headstart: HEADSTART_VERSION, node: process.versions.node, 'onnxruntime-node': ort.env.versions.node ?? 'unknown', platform: `${process.platform}-${process.arch}` },
  };
  const { modelPath, metrics } = await writeRunOutputs({
    out,
    dataRoot: resolve(dataRoot),
    spec,
    params: init.params,
    classes: [...classes],
    preprocess,
    mode,
    history: state.history,
    predictions,
    config: configFile,
    timings,
  });
  const result: TrainResult = {
    ...base,
    modelPath,
    history: state.history,
    bestValAcc: best?.val_acc ?? 0,
    bestEpoch: best?.epoch ?? 0,
    seconds: (performance.now() - started) / 1000,
    ...(metrics ? { metrics } : {}),
    interrupted: false,
    stoppedEarly: state.stopReason,
  };
  await bus.emit('done', { best_val_acc: result.bestValAcc, best_epoch: result.bestEpoch, epochs: state.history.epochs.length, seconds: result.seconds, out });
  return result;
}
