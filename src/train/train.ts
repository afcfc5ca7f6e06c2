/**
 * `train(dataRoot, options, hooks)`: the whole transfer-learning run behind `headstart train`:
 * resolve the options (and a checkpoint to resume) -> set the run up (data, weights, mode) ->
 * fit (src/train/fit.ts) -> write the outputs. Everything the user sees goes through events
 * (src/train/events.ts) to listeners.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ClassificationMetrics } from '../metrics/classification.js';
import { bestEpoch, createHistory, type History } from '../metrics/history.js';
import { trainableFilter } from '../models/trainable.js';
import type { AutoDecision } from './auto-mode.js';
import { chooseMode } from './choose-mode.js';
import { balancedClassWeights } from './class-weights.js';
import { runConfigFile } from './config-file.js';
import { EventBus, type RunBus, type TrainHooks } from './events.js';
import { extractFeatures } from './extract-features.js';
import type { FeatureSet } from './feature-cache.js';
import { createFinetuneRunner } from './finetune-runner.js';
import { fit, restoreBestAndPredict, type FitState } from './fit.js';
import { createHeadRunner } from './head-runner.js';
import { checkpointSaver } from './listeners/checkpoint-saver.js';
import { eventsFile, EVENTS_FILE } from './listeners/events-file.js';
import { earlyStopping } from './listeners/early-stopping.js';
import { batchLog } from './listeners/batch-log.js';
import { buildPresetTransform } from '../data/build-transforms.js';
import type { ModeRunner } from './mode-runner.js';
import { describeBnMomentum, resolveBnMomentum } from '../models/bn-momentum.js';
import { augmentPreset, parseTrainOptions, RECIPES, resolveTrainConfig, type ConcreteMode, type ResolvedTrainConfig, type TrainOptions } from './options.js';
import { RunInterrupted } from './phase-reporter.js';
import { checkResumable, loadResume, restoreRun, resumedConfig } from './resume.js';
import { createRunContext } from './run-context.js';
import { makeOutDir, removeIfEmpty } from './out-dir.js';
import { writeHistoryFiles, writeRunOutputs } from './run-outputs.js';
import { resolveSpec, setUpRun, type RunSetup } from './run-setup.js';
import { nativeEngineBlocker } from './train-engine.js';
import { claimOutputFolder, freshFolder } from './output-folder.js';
import { describeTrust } from './describe-trust.js';
import { ConfigError } from '../errors.js';
import { argmaxRows } from '../metrics/classification.js';
import { stratifiedSubset, subsetFeatureSplit } from './train-subset.js';
import { fitPhases, restoreAtPhaseStart, widenBest } from './freeze-phases.js';
import { autoLr } from './lr-find.js';
import { buildFrozenCut } from '../graphs/frozen-cut.js';
import { createCachedPartialRunner } from './cached-partial-runner.js';

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
  /** Per val image, the label and the prediction of the kept weights (paired comparisons). */
  valPredictions?: { paths: string[]; labels: Int32Array; predicted: Int32Array };
  /** Training images the run trained on (fewer than the split's with trainFraction < 1). */
  trainImages?: number;
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The class weights of the loss: none, balanced from the training labels, or the user's. */
function classWeightsFor(config: ResolvedTrainConfig, s: RunSetup): number[] | undefined {
  const classes = s.classes;
  if (config.classWeights === 'auto')
    return balancedClassWeights(
      s.folder.train.map((x) => x.label),
      classes.length,
    );
  if (!Array.isArray(config.classWeights)) return undefined;
  if (config.classWeights.length !== classes.length) {
    throw new ConfigError('E_BAD_OPTION', `--class-weights has ${config.classWeights.length} values for ${classes.length} classes (${classes.join(', ')})`, {
      hint: 'give one weight per class, in class order, or use --class-weights auto',
    });
  }
  return config.classWeights;
}

export async function train(dataRoot: string, options?: TrainOptions, hooks: TrainHooks = {}): Promise<TrainResult> {
  const started = performance.now();
  const { options: o, resumed } = await loadResume(parseTrainOptions(options), options ?? {});
  // Options that contradict each other fail now, before any data or weights are loaded.
  if (!resumed) resolveTrainConfig(o, o.mode === 'features' ? 'features' : 'finetune', '', '');
  // --engine native where it cannot run (no addon, --device cuda, an op it lacks) fails now too (train-engine.ts).
  if ((o.mode ?? RECIPES[o.recipe].mode) === 'finetune' && o.engine === 'native') {
    const blocker = nativeEngineBlocker(resolveSpec(o), { device: o.device, inputSize: o.inputSize ?? undefined, freezeBn: o.freezeBn });
    if (blocker) throw blocker;
  }
  // An existing run folder is never overwritten without `overwrite` (checked before any work).
  if (!resumed && o.out !== undefined) await claimOutputFolder(o.out, { overwrite: o.overwrite, dataRoot });
  const bus = new EventBus(hooks.listeners);
  const skipped = new Set<string>();
  const onSkip = (path: string, reason: string) => {
    if (skipped.has(path)) return;
    skipped.add(path);
    void bus.emit('skipped_image', { path, reason });
  };

  // Set up: data, weights, mode, configuration, output folder.
  const s = await setUpRun(dataRoot, o, bus, hooks, resumed ? { threads: resumed.state.config.threads } : undefined);
  if (resumed) checkResumable(resumed, s.spec.name, s.classes);
  const chosen = await chooseMode(s, o, bus, hooks, onSkip);
  const mode = chosen.mode;
  const lrAuto = !resumed && o.lr === 'auto' ? await autoLr(s, o, mode, bus, hooks, onSkip, chosen) : undefined;
  const config = resumed
    ? resumedConfig(resumed, o)
    : { ...resolveTrainConfig(lrAuto ? { ...o, lr: lrAuto.lr } : o, mode, s.spec.name, s.weightsLabel, s.spec.bnMomentum, s.spec.stochasticDepth ?? null), ...(lrAuto ? { lrFind: lrAuto } : {}) };
  if (mode === 'finetune' && !config.freezeBn) {
    const message = resumed
      ? `BatchNorm momentum ${config.bnMomentum} (torch convention), as the run was started with`
      : describeBnMomentum(s.spec.name, resolveBnMomentum(s.spec.bnMomentum, o.bnMomentum, RECIPES[o.recipe].bnMomentum));
    await bus.emit('log', { level: 'info', message });
  }
  if (mode === 'finetune' && (config.stochasticDepth ?? 0) > 0) {
    const why = o.stochasticDepth !== undefined ? 'as --stochastic-depth asks' : `${s.spec.name}'s own, as torchvision trains it; --stochastic-depth 0 turns it off`;
    await bus.emit('log', { level: 'info', message: `stochastic depth ${config.stochasticDepth} (residual branches of the trained stages dropped per sample), ${why}` });
  }
  if (resumed && config.epochs <= resumed.state.epoch) {
    await bus.emit('log', { level: 'warn', message: `the checkpoint already holds ${resumed.state.epoch} of ${config.epochs} epochs; pass a larger --epochs to train more` });
  }
  if (config.classWeights === 'auto') {
    const w = classWeightsFor(config, s)!;
    await bus.emit('log', { level: 'info', message: `class weights (balanced): ${s.classes.map((c, i) => `${c} ${w[i].toFixed(3)}`).join(', ')}` });
  }
  const out = resolve(resumed?.dir ?? o.out ?? freshFolder(join('runs', `${timestamp()}-${s.spec.name}-${mode}`)));
  const createdOut = await makeOutDir(out);

  // The run: its state, context and bus exist before any run event, so none fires without them.
  const state: FitState = { epoch: 0, history: createHistory({ name: mode === 'features' ? 'feature extraction' : 'fine-tuning' }), best: null, stopReason: null };
  let featureCache: TrainResult['featureCache'];
  let featureKey: string | undefined;
  let runner: ModeRunner | undefined;
  const runBusRef: { bus?: RunBus } = {};
  const { ctx, tracker } = createRunContext({
    out,
    config,
    classes: s.classes,
    state,
    runner: () => runner,
    lastCheckpoint: resumed ? resumed.checkpoint : null,
    featureKey: () => featureKey,
    emit: (name, payload) => runBusRef.bus!.emit(name, payload),
  });
  bus.add(tracker);
  bus.add(checkpointSaver(out));
  bus.add(eventsFile());
  if (config.earlyStop !== null) bus.add(earlyStopping(config.earlyStop));
  const batches = batchLog();
  bus.add(batches.listener);
  const runBus = (runBusRef.bus = bus.forRun(ctx));
  const emitPhase = runBus;

  await runBus.emit('run_start', {
    model: s.spec.name,
    mode,
    classes: [...s.classes],
    train_images: s.folder.train.length,
    val_images: s.folder.val.length,
    epochs: config.epochs,
    start_epoch: (resumed?.state.epoch ?? 0) + 1,
    out,
    device: o.device,
    threads: s.threads,
  });

  // The runner of the chosen mode (feature extraction first extracts, as a phase of the run).
  const timings: Record<string, number> = {};
  let engineUsed: 'onnx' | 'native' | undefined;
  let trainImages = s.folder.train.length;
  /** The backbone features the last phase trained its head on (feature extraction only), for the mahalanobis score. */
  let trustFeatures: FeatureSet | undefined;
  async function createRunner(c: ResolvedTrainConfig = config, m: ConcreteMode = mode): Promise<ModeRunner> {
    const config = c;
    const classWeights = classWeightsFor(config, s);
    if (m === 'features') {
      const f = chosen.features ?? (await extractFeatures(s, o, emitPhase, hooks, s.folder, augmentPreset(o.augment) !== 'none' ? config.featureViews : 0, onSkip));
      featureCache = { path: f.path, hit: f.hit, seconds: f.seconds };
      featureKey = f.set.key;
      timings['feature extraction'] = f.seconds;
      if (resumed?.state.featureKey && resumed.state.featureKey !== featureKey) {
        await emitPhase.emit('log', { level: 'warn', message: 'the cached features differ from those the checkpoint was trained on (the data, weights or transform changed)' });
      }
      const features = o.trainFraction < 1 ? { ...f.set, train: subsetFeatureSplit(f.set.train, stratifiedSubset(f.set.train.labels, o.trainFraction, o.seed), f.set.dim) } : f.set;
      trainImages = features.train.labels.length;
      if (features !== f.set)
        await emitPhase.emit('log', { level: 'info', message: `training on ${features.train.labels.length} of ${f.set.train.labels.length} train images (--train-fraction ${o.trainFraction})` });
      trustFeatures = features;
      return createHeadRunner({ spec: s.spec, params: s.params, numClasses: s.classes.length, features, config, classWeights, session: s.session });
    }
    trustFeatures = undefined; // the backbone changes: the mahalanobis score computes the features with the final weights
    const kept = stratifiedSubset(
      s.folder.train.map((x) => x.label),
      o.trainFraction,
      o.seed,
    );
    trainImages = kept.length;
    if (kept.length < s.folder.train.length)
      await emitPhase.emit('log', { level: 'info', message: `training on ${kept.length} of ${s.folder.train.length} train images (--train-fraction ${o.trainFraction})` });
    const trainable = trainableFilter(s.spec, { mode: 'finetune', ...(config.unfreezeLast !== null ? { unfreezeLast: config.unfreezeLast } : {}) });
    if (config.cacheFrozen) {
      // Cached partial fine-tuning: the frozen stages' output goes through the feature cache once.
      const cut = buildFrozenCut(s.spec, {
        batch: config.batchSize,
        numClasses: s.classes.length,
        inputSize: s.preprocess.inputSize,
        trainable,
        constants: s.params,
        freezeBn: config.freezeBn,
        bnMomentum: config.bnMomentum,
        stochasticDepth: config.stochasticDepth ?? 0,
      });
      const id = `frozen-stages:${config.unfreezeLast}${config.freezeBn ? ':freeze-bn' : ''}`;
      const f = await extractFeatures(s, o, emitPhase, hooks, s.folder, augmentPreset(o.augment) !== 'none' ? config.featureViews : 0, onSkip, { id, graph: cut.prefix });
      featureCache = { path: f.path, hit: f.hit, seconds: f.seconds };
      featureKey = f.set.key;
      timings['frozen stages (cached)'] = f.seconds;
      return createCachedPartialRunner({
        spec: s.spec,
        params: s.params,
        numClasses: s.classes.length,
        cut,
        trainable,
        inputSize: s.preprocess.inputSize,
        activations: f.set,
        config,
        classWeights,
        session: s.session,
      });
    }
    return createFinetuneRunner({
      spec: s.spec,
      params: s.params,
      numClasses: s.classes.length,
      inputSize: s.preprocess.inputSize,
      train: kept.length < s.folder.train.length ? kept.map((i) => s.folder.train[i]) : s.folder.train,
      val: s.folder.val,
      trainTransform: s.trainTransform,
      evalTransform: s.evalTransform,
      transformAt: (size) =>
        buildPresetTransform({ ...s.preprocess, inputSize: size, resizeSize: Math.round((size * s.preprocess.resizeSize) / s.preprocess.inputSize) }, augmentPreset(config.augment), {
          exactAugment: config.exactAugment,
        }),
      config,
      trainable,
      classWeights,
      session: s.session,
      onSkip,
      ...(hooks.batches ? { batches: hooks.batches } : {}),
    });
  }
  // fastai's fine_tune (config.freeze): the head alone on cached features, then everything (src/train/freeze-phases.ts).
  const phases = fitPhases(config, mode, resumed?.state.epoch ?? 0);
  for (const [i, phase] of phases.entries()) {
    try {
      runner = await createRunner(phase.config, phase.mode);
    } catch (err) {
      if (!(err instanceof RunInterrupted)) throw err;
      return finishInterrupted();
    }
    if (resumed && i === 0) {
      if (phase.firstEpoch > 0 && resumed.state.epoch === phase.firstEpoch) restoreAtPhaseStart(resumed, runner, state);
      else restoreRun(resumed, runner, state);
      const startedWith = resumed.state.config.epochs;
      const epochs = config.epochs === startedWith ? `of ${config.epochs}` : `of ${config.epochs} (--epochs ${config.epochs}; the run was started with ${startedWith})`;
      await runBus.emit('log', { level: 'info', message: `resuming ${out} after epoch ${resumed.state.epoch} ${epochs}` });
    }
    if (phase.message) await runBus.emit('log', { level: 'info', message: phase.message });
    if (runner.engine) {
      engineUsed = runner.engine.engine;
      await runBus.emit('log', { level: 'info', message: runner.engine.note });
    }
    widenBest(state, runner);
    try {
      await fit({ runner, bus: runBus, ctx, config, state, numClasses: s.classes.length, signal: hooks.signal, lastEpoch: phase.lastEpoch });
    } catch (err) {
      await runner.release();
      if (!(err instanceof RunInterrupted)) throw err;
      return finishInterrupted();
    }
    if (i < phases.length - 1) {
      if (state.stopReason) break;
      await runner.release();
    }
  }

  // Outputs: the best weights, their val predictions, model.onnx, curves, report, config.json.
  const last = runner!;
  const predictions = await restoreBestAndPredict(last, state, s.classes.length);
  await last.release();
  const best = bestEpoch(state.history);
  timings.total = (performance.now() - started) / 1000;
  const configFile = await runConfigFile({ config, dataRoot, setup: s, skipped: [...skipped], autoDecision: chosen.autoDecision, featureCache, engineUsed });
  const { modelPath, metrics, trust } = await writeRunOutputs({
    out,
    dataRoot: resolve(dataRoot),
    spec: s.spec,
    params: s.params,
    classes: [...s.classes],
    preprocess: s.preprocess,
    mode,
    history: state.history,
    predictions,
    config: configFile,
    timings,
    split: s.folder.split,
    batches: batches.records,
    train: s.folder.train,
    val: s.folder.val,
    trainTransform: s.trainTransform,
    seed: config.seed,
    trust: {
      calibrate: o.calibrate,
      rejectRate: o.rejectRate,
      unknownScore: o.unknownScore,
      verifySamples: o.verifySamples,
      evalTransform: s.evalTransform,
      threads: s.threads,
      ...(o.unknownDir ? { unknownDir: o.unknownDir } : {}),
      ...(trustFeatures ? { cachedFeatures: trustFeatures } : {}),
    },
  });
  for (const message of describeTrust(trust)) await runBus.emit('log', { level: 'info', message });
  const result: TrainResult = {
    ...base(),
    modelPath,
    history: state.history,
    bestValAcc: best?.val_acc ?? 0,
    bestEpoch: best?.epoch ?? 0,
    seconds: (performance.now() - started) / 1000,
    ...(metrics ? { metrics } : {}),
    interrupted: false,
    stoppedEarly: state.stopReason,
    trainImages,
    valPredictions: { paths: predictions.paths, labels: predictions.labels, predicted: argmaxRows(predictions.logits, s.classes.length) },
  };
  await runBus.emit('done', { best_val_acc: result.bestValAcc, best_epoch: result.bestEpoch, epochs: state.history.epochs.length, seconds: result.seconds, out });
  return result;

  function base() {
    return {
      out,
      model: s.spec.name,
      mode,
      classes: [...s.classes],
      config,
      ...(chosen.autoDecision ? { autoDecision: chosen.autoDecision } : {}),
      ...(featureCache ? { featureCache } : {}),
    };
  }

  /** An interrupted run keeps its history and checkpoint, and says how to continue. */
  async function finishInterrupted(): Promise<TrainResult> {
    if (state.history.epochs.length) await writeHistoryFiles(out, state.history);
    const checkpoint = ctx.lastCheckpoint;
    // Before the first epoch nothing is saved: a folder this run created and left empty goes.
    // (Its event log, events.jsonl, is all it holds then: it goes with the folder.)
    if (!checkpoint && createdOut && state.history.epochs.length === 0) await rm(join(out, EVENTS_FILE), { force: true });
    const removed = !checkpoint && createdOut && (await removeIfEmpty(out));
    const kept = featureCache ? `; the extracted features stay cached (${featureCache.path}), so the next run starts training at once` : '';
    const message = checkpoint
      ? `interrupted: epoch ${state.epoch} is saved in ${checkpoint}; continue with: headstart train ${dataRoot} --resume ${out}`
      : `interrupted before the first epoch finished: nothing to resume${removed ? ` (removed the empty ${out})` : ''}${kept}`;
    await emitPhase.emit('interrupted', { epoch: state.epoch, checkpoint, message });
    const best = bestEpoch(state.history);
    return {
      ...base(),
      modelPath: null,
      history: state.history,
      bestValAcc: best?.val_acc ?? 0,
      bestEpoch: best?.epoch ?? 0,
      seconds: (performance.now() - started) / 1000,
      interrupted: true,
      stoppedEarly: null,
    };
  }
}
