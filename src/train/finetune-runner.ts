/**
 * Fine-tuning: every epoch runs the training images (augmented) through the whole network
 * in one ONNX Runtime graph per step — forward, loss, gradients, BatchNorm statistics — and
 * the val images through an eval graph (on the native engine's eval plans where the engine choice,
 * train-engine.ts, says so). Frozen parameters (--unfreeze-last) are embedded as
 * constants. With --mixup/--cutmix each training batch is mixed (src/data/mix-batch.ts) and its
 * cross-entropy coefficients mixed alike; train accuracy counts the dominant label of each
 * pair. Graphs have a fixed batch, so a smaller last batch gets its own graph, built
 * once and kept.
 */
import type { ResolvedTrainConfig } from './options.js';
import type { Pipeline } from '../data/pipeline.js';
import type { Sample } from '../data/sample.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { blockedConvLayout } from '../engine/blocked-layout.js';
import { keyedRandom, type RandomSource } from '../random.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../graphs/network-graph.js';
import os from 'node:os';
import { NativeEvalSession, NativeTrainingSession } from '../graphs/native-training-session.js';
import { TrainingSession, type StepResult } from '../graphs/training-session.js';
import type { ModelSpec } from '../models/model-spec.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import { dominantLabels, drawBatchMix, mixImages, mixRows } from '../data/mix-batch.js';
import type { NamedTensors } from '../tensor.js';
import { coefficientLoss, type ModeRunner } from './mode-runner.js';
import { SessionsByBatchSize } from './sessions-by-batch-size.js';
import { batchCount, imageBatches, type BatchSource, type ImageBatch } from './image-batches.js';
import { createRunOptimizer } from './run-optimizer.js';
import { BN_PASS_EPOCH, checkProgressive, progressiveSize, RunningStatsAverage } from './progressive-resizing.js';
import { ConfigError, EngineError } from '../errors.js';
import { chooseTrainEngine } from './train-engine.js';
import { profiled } from './phase-profile.js';

/** A training step session of either engine (TrainingSession, NativeTrainingSession). */
interface StepSession {
  readonly trainable: readonly string[];
  readonly running: readonly string[];
  step(images: Float32Array, targets: Float32Array, random?: RandomSource): Promise<StepResult>;
  release(): Promise<void>;
}

export interface FinetuneRunnerArgs {
  spec: ModelSpec;
  /** Every parameter of the network; trained in place. */
  params: NamedTensors;
  numClasses: number;
  inputSize: number;
  train: readonly Sample[];
  val: readonly Sample[];
  trainTransform: Pipeline;
  evalTransform: Pipeline;
  config: ResolvedTrainConfig;
  trainable: (name: string) => boolean;
  classWeights?: number[];
  session: SessionOptions;
  onSkip: (path: string, reason: string) => void;
  /** The training transform at another crop size (progressive resizing). */
  transformAt?: (size: number) => Pipeline;
  /** Where batches come from (default: the loader, imageBatches). */
  batches?: BatchSource;
}

/**
 * The val batch on the native engine. A native plan keeps every activation of its batch in memory, and the
 * first run of a plan pays for touching it (page faults: ~10 CPU-s for MobileNetV2's 2.4 GB at batch 32,
 * 224 px, loaded); per image the eval forward costs about the same from batch 8 to 32 (MobileNetV2 10-10.6
 * CPU-ms per image, ResNet18 24 / 22 / 21 at 8 / 16 / 32; loaded A/B). 16 keeps the plan small (1.4 GB
 * MobileNetV2, 0.6 GB ResNet18) at no measurable cost per image.
 */
export const NATIVE_EVAL_BATCH = 16;

export async function createFinetuneRunner(a: FinetuneRunnerArgs): Promise<ModeRunner<ImageBatch>> {
  const { spec, params, numClasses, config } = a;
  const B = config.batchSize;
  const load = a.batches ?? imageBatches;
  // Blocked-layout convolutions where this ONNX Runtime passes their self-test (CPU only).
  const blocked = a.session.device === 'cuda' ? undefined : await profiled('finetune: blocked-layout probe', () => blockedConvLayout());
  // Older config files have none: those runs trained without stochastic depth.
  const stochasticDepth = config.stochasticDepth ?? 0;
  const build = (batch: number, inputSize = a.inputSize, bnMomentum = config.bnMomentum) =>
    buildTrainingGraph(spec, { batch, numClasses, inputSize, trainable: a.trainable, constants: params, freezeBn: config.freezeBn, bnMomentum, blocked, stochasticDepth });
  // --engine: the native oneDNN step where asked (or, with auto, where built, self-tested and supported).
  const threads = a.session.threads ?? os.availableParallelism();
  const engine = await profiled('finetune: choose engine (compile + self-test)', () =>
    chooseTrainEngine(config.engine ?? 'onnx', {
      spec,
      device: a.session.device ?? 'cpu',
      batch: B,
      numClasses,
      inputSize: a.inputSize,
      trainable: a.trainable,
      freezeBn: config.freezeBn,
      bnMomentum: config.bnMomentum,
      stochasticDepth,
      threads,
    }),
  );
  const native = (batch: number, inputSize: number, bnMomentum: number): StepSession => {
    const s = NativeTrainingSession.create(spec, { batch, numClasses, inputSize, trainable: a.trainable, freezeBn: config.freezeBn, bnMomentum, threads, stochasticDepth }, params);
    if ('unsupported' in s) throw new EngineError('E_UNSUPPORTED_OP', `the native engine cannot run ${spec.name} at batch ${batch}, ${inputSize} px: ${s.unsupported}`, { hint: 'use --engine onnx' });
    return s;
  };
  const stepSession = async (batch: number, inputSize = a.inputSize, bnMomentum = config.bnMomentum): Promise<StepSession> =>
    profiled(`finetune: ${engine.engine} training session, batch ${batch}, ${inputSize} px`, () =>
      engine.engine === 'native' ? native(batch, inputSize, bnMomentum) : TrainingSession.create(build(batch, inputSize, bnMomentum), params, a.session),
    );
  const sessions = new SessionsByBatchSize<StepSession>((batch) => stepSession(batch));
  // The trainable parameters and running statistics, as the full-batch session reports them.
  const main = await sessions.get(B);
  // Progressive resizing: the sessions of the current smaller size, and of the BatchNorm pass at the final size.
  const sizes = config.progressive ?? null;
  if (sizes) checkProgressive(sizes, a.inputSize, config.epochs);
  if (sizes && !a.transformAt) throw new ConfigError('E_BAD_ARGUMENT', 'createFinetuneRunner: --progressive needs `transformAt` (the training transform of a crop size)');
  const sizeOf = (epoch: number) => (sizes ? progressiveSize(epoch, config.epochs, sizes) : a.inputSize);
  let stage: { size: number; sessions: SessionsByBatchSize<StepSession>; transform: Pipeline } | null = null;
  let bnPass: SessionsByBatchSize<StepSession> | null = null;
  const sessionsAt = async (size: number): Promise<SessionsByBatchSize<StepSession>> => {
    if (size === a.inputSize) return sessions;
    if (stage?.size !== size) {
      await stage?.sessions.release();
      stage = { size, sessions: new SessionsByBatchSize<StepSession>((batch) => stepSession(batch, size)), transform: a.transformAt!(size) };
    }
    return stage.sessions;
  };
  let currentSize = a.inputSize;

  const changingNames = new Set([...main.trainable, ...main.running]);
  const changing: NamedTensors = new Map([...changingNames].map((n) => [n, params.get(n)!]));
  const frozen: NamedTensors = new Map([...params].filter(([n]) => !changingNames.has(n)));
  // The val phase: native eval plans (one per batch size, reading the live parameters) where the engine
  // choice says so, else one ONNX Runtime eval session (any batch), built on first use.
  const evalNative = engine.val === 'native';
  // One native eval plan; a smaller last batch runs zero-padded through it (NativeEvalSession.logitsOf).
  const evalPlanBatch = Math.max(1, Math.min(NATIVE_EVAL_BATCH, a.val.length));
  let evalPlan: Promise<NativeEvalSession> | null = null;
  const nativeEvalPlan = () =>
    (evalPlan ??= profiled(`finetune: native eval plan, batch ${evalPlanBatch}`, () => {
      const session = NativeEvalSession.create(spec, { batch: evalPlanBatch, numClasses, inputSize: a.inputSize, threads }, params);
      if ('unsupported' in session)
        throw new EngineError('E_UNSUPPORTED_OP', `the native engine cannot run ${spec.name}'s eval graph at batch ${evalPlanBatch}: ${session.unsupported}`, { hint: 'use --engine onnx' });
      return session;
    }));
  let onnxEval: Promise<{ session: Session; feeds: NamedTensors }> | null = null;
  const onnxEvalSession = () =>
    (onnxEval ??= profiled('finetune: ONNX eval graph and session', async () => {
      const evalGraph = buildInferenceGraph(spec, { batch: -1, numClasses, inputSize: a.inputSize, constants: frozen });
      const session = await Session.create(evalGraph.bytes, { label: 'eval', ...a.session });
      return { session, feeds: new Map(evalGraph.fed.map((n) => [n, params.get(n)!])) };
    }));
  const evalLogits = async (images: Float32Array, n: number): Promise<Float32Array> => {
    if (evalNative) {
      return (await nativeEvalPlan()).logitsOf(images, n);
    }
    const { session, feeds } = await onnxEvalSession();
    const out = await session.run({ ...Object.fromEntries(feeds), [IO.images]: { dtype: 'float32', shape: [n, 3, a.inputSize, a.inputSize], data: images } }, [IO.logits]);
    return out[IO.logits].data as Float32Array;
  };

  const trainBatchCount = batchCount(a.train.length, B);
  const { optimizer, scheduler, groupNames } = createRunOptimizer(
    config,
    spec,
    main.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })),
    trainBatchCount,
  );
  const ce = { labelSmoothing: config.labelSmoothing, classWeights: a.classWeights };
  const evalBatch = evalNative ? evalPlanBatch : Math.max(B, 32);
  const mixing = { mixup: config.mixup ?? 0, cutmix: config.cutmix ?? 0 };

  return {
    engine,
    trainImages: a.train.length,
    valImages: a.val.length,
    trainBatchCount,
    valBatchCount: batchCount(a.val.length, evalBatch),
    optimizer,
    scheduler,
    changing,
    groupNames,
    async *trainBatches(epoch) {
      currentSize = sizeOf(epoch);
      await sessionsAt(currentSize);
      const transform = currentSize === a.inputSize ? a.trainTransform : stage!.transform;
      yield* load(a.train, transform, { batchSize: B, shuffle: true, seed: config.seed, epoch, onSkip: a.onSkip });
    },
    async trainStep(batch, epoch, index) {
      const n = batch.labels.length;
      const session = await (await sessionsAt(currentSize)).get(n);
      const coefficients = crossEntropyCoefficients(batch.labels, numClasses, ce);
      const S = currentSize;
      const mix = drawBatchMix(keyedRandom(config.seed, epoch, index, 0x3c), n, S, S, mixing);
      if (!mix) return session.step(batch.images, coefficients, keyedRandom(config.seed, epoch, index, 0xd2));
      const r = await session.step(mixImages(batch.images, [n, 3, S, S], mix), mixRows(coefficients, numClasses, mix), keyedRandom(config.seed, epoch, index, 0xd2));
      return { ...r, accuracyLabels: dominantLabels(batch.labels, mix) };
    },
    valBatches: () => load(a.val, a.evalTransform, { batchSize: evalBatch, shuffle: false, seed: config.seed, epoch: 0, onSkip: a.onSkip }),
    async evalStep(batch) {
      const n = batch.labels.length;
      const logits = await evalLogits(batch.images, n);
      return { loss: coefficientLoss(logits, crossEntropyCoefficients(batch.labels, numClasses, ce), numClasses), logits };
    },
    async afterTrainPhase(epoch) {
      if (sizeOf(epoch) === a.inputSize || main.running.length === 0) return;
      // BatchNorm statistics at the final size: momentum 1 leaves each batch's, averaged over one pass.
      bnPass ??= new SessionsByBatchSize<StepSession>((batch) => stepSession(batch, a.inputSize, 1));
      const saved = new Map(main.running.map((n) => [n, (params.get(n)!.data as Float32Array).slice()]));
      const average = new RunningStatsAverage(params, main.running);
      const targets = new Float32Array(B * numClasses);
      for await (const batch of load(a.train, a.trainTransform, { batchSize: B, shuffle: true, seed: config.seed, epoch: BN_PASS_EPOCH + epoch, onSkip: a.onSkip })) {
        const n = batch.labels.length;
        await (await bnPass.get(n)).step(batch.images, targets.subarray(0, n * numClasses), keyedRandom(config.seed, epoch, 0, 0xb7));
        average.add();
        batch.release();
      }
      average.finish(saved);
    },
    async release() {
      await sessions.release();
      await (stage as { sessions: SessionsByBatchSize<StepSession> } | null)?.sessions.release();
      await bnPass?.release();
      if (evalPlan) await (await evalPlan).release();
      if (onnxEval) await (await onnxEval).session.release();
    },
  };
}
