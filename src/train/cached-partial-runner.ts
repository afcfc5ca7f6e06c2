/**
 * Cached partial fine-tuning (--unfreeze-last K --cache-frozen): the frozen stages run once per
 * image (per cached view) and their output is cached on disk by the feature cache (same key,
 * version header and lock); each epoch then runs only the trainable stages (src/graphs/frozen-cut.ts).
 * The frozen stages' BatchNorm is in inference mode, as in the uncached run, so a step on a
 * cached batch computes the same loss, gradients and running statistics as the whole graph on
 * the same images. The training images are the cached views (un-augmented, or --feature-views
 * K augmented views), not a fresh augmentation every epoch.
 */
import type { ResolvedTrainConfig } from './options.js';
import os from 'node:os';
import { keyedRandom, type RandomSource } from '../random.js';
import { EngineError } from '../errors.js';
import { NativeEvalSession, NativeTrainingSession } from '../graphs/native-training-session.js';
import type { StepResult } from '../graphs/training-session.js';
import { chooseTrainEngine, type TrainEngineChoice } from './train-engine.js';
import { profiled } from './phase-profile.js';
import { NATIVE_EVAL_BATCH } from './finetune-runner.js';
import { fillDropoutMask } from '../graphs/dropout-mask.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { IO, type TrainingGraph } from '../graphs/network-graph.js';
import type { FrozenCut, CutValue } from '../graphs/frozen-cut.js';
import type { ModelSpec } from '../models/model-spec.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { coefficientLoss, type ModeRunner } from './mode-runner.js';
import { SessionsByBatchSize } from './sessions-by-batch-size.js';
import type { FeatureSet } from './feature-cache.js';
import { batchCount } from './image-batches.js';
import { trainRowBatches, valRowBatches, type CachedRowBatch } from './cached-row-batches.js';
import { createRunOptimizer } from './run-optimizer.js';

export interface CachedPartialRunnerArgs {
  spec: ModelSpec;
  /** Every parameter of the network; the trainable ones (and their BatchNorm statistics) are changed in place. */
  params: NamedTensors;
  numClasses: number;
  cut: FrozenCut;
  /** The parameters that train (--unfreeze-last), as buildFrozenCut was given. */
  trainable: (name: string) => boolean;
  /** The network's input side (the cut's shapes follow from it). */
  inputSize: number;
  /** The cut values of every image (rows of `cut.dim` floats), from the feature cache. */
  activations: FeatureSet;
  config: ResolvedTrainConfig;
  classWeights?: number[];
  session: SessionOptions;
}

/** Feeds for the cut values of `n` rows of concatenated activations. */
export function cutFeeds(x: Float32Array, n: number, cut: readonly CutValue[], dim: number): Record<string, HostTensor> {
  if (cut.length === 1) return { [cut[0].name]: { dtype: 'float32', shape: [n, ...cut[0].shape], data: x } };
  const feeds: Record<string, HostTensor> = {};
  let offset = 0;
  for (const c of cut) {
    const data = new Float32Array(n * c.size);
    for (let i = 0; i < n; i++) data.set(x.subarray(i * dim + offset, i * dim + offset + c.size), i * c.size);
    feeds[c.name] = { dtype: 'float32', shape: [n, ...c.shape], data };
    offset += c.size;
  }
  return feeds;
}

/** Output buffers of a suffix training graph, allocated once and filled by every step (no per-step allocation of the gradients). */
export function cachedStepOutputs(graph: TrainingGraph, numClasses: number): Record<string, HostTensor> {
  const f32 = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  const out: Record<string, HostTensor> = { [IO.loss]: f32([]), [IO.logits]: f32([graph.batch, numClasses]) };
  for (const p of graph.trainable) out[IO.grad(p)] = f32(shapes.get(p)!);
  for (const p of graph.running) out[IO.running(p)] = f32(shapes.get(p)!);
  return out;
}

/**
 * One training step of a suffix graph: the same outputs as TrainingSession.step, fed cut values
 * instead of images. With `outputs` (cachedStepOutputs), the gradients and logits returned are
 * those buffers, reused by the next step: consume them first.
 */
export async function cachedStep(
  session: Session,
  graph: TrainingGraph,
  params: NamedTensors,
  cut: readonly CutValue[],
  dim: number,
  x: Float32Array,
  targets: Float32Array,
  random?: RandomSource,
  outputs?: Record<string, HostTensor>,
) {
  const n = graph.batch;
  const numClasses = targets.length / n;
  const feeds: Record<string, HostTensor> = { ...cutFeeds(x, n, cut, dim), [IO.targets]: { dtype: 'float32', shape: [n, numClasses], data: targets } };
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  for (const name of graph.fed) feeds[name] = { dtype: 'float32', shape: shapes.get(name)!, data: params.get(name)!.data };
  for (const m of graph.masks) {
    const data = new Float32Array(m.shape.reduce((a, b) => a * b, 1));
    if (random) fillDropoutMask(data, m.ratio, random);
    feeds[m.name] = { dtype: 'float32', shape: m.shape, data };
  }
  const out = await session.run(feeds, outputs ?? [IO.loss, IO.logits, ...graph.trainable.map(IO.grad), ...graph.running.map(IO.running)]);
  for (const p of graph.running) (params.get(p)!.data as Float32Array).set(out[IO.running(p)].data as Float32Array);
  return {
    loss: (out[IO.loss].data as Float32Array)[0],
    logits: out[IO.logits].data as Float32Array,
    grads: new Map(graph.trainable.map((p) => [p, out[IO.grad(p)].data as Float32Array])),
  };
}

/** A training step of either engine, fed a batch of cached rows. */
interface CachedStepSession {
  readonly trainable: readonly string[];
  readonly running: readonly string[];
  step(x: Float32Array, targets: Float32Array, random: RandomSource): Promise<StepResult>;
  release(): Promise<void>;
}

/**
 * The engines of the trainable stages: the choice of the uncached runner (train-engine.ts, same
 * `--engine`, self-test and log line) for plans that start from the cut value. The native plan takes one
 * input: a cut of several values (a residual skip path) keeps ONNX Runtime, saying why (`--engine native`:
 * an error).
 */
async function chooseCachedEngine(a: CachedPartialRunnerArgs, threads: number): Promise<TrainEngineChoice> {
  const { spec, config, cut } = a;
  const requested = config.engine ?? 'onnx';
  const what = '--cache-frozen: the trainable stages, fed the cached output of the frozen stages';
  if (requested !== 'onnx' && (cut.cut.length !== 1 || cut.evalCut.length !== 1)) {
    const why = `--cache-frozen cuts ${spec.name} at ${cut.cut.length} values (${cut.cut.map((c) => `[${c.shape}]`).join(', ')}); the native plan takes one input`;
    if (requested === 'native')
      throw new EngineError('E_UNSUPPORTED_OP', `--engine native cannot run ${spec.name} with --unfreeze-last ${config.unfreezeLast} --cache-frozen: ${why}`, {
        hint: 'use --engine auto (ONNX Runtime runs the cached stages), or drop --cache-frozen',
      });
    return { engine: 'onnx', val: 'onnx', note: `training step and val phase: ONNX Runtime (--engine auto: the native engine is not used: ${why}); ${what}` };
  }
  const choice = await profiled('cached partial: choose engine (compile + self-test)', () =>
    chooseTrainEngine(requested, {
      spec,
      device: a.session.device ?? 'cpu',
      batch: config.batchSize,
      numClasses: a.numClasses,
      inputSize: a.inputSize,
      trainable: a.trainable,
      freezeBn: config.freezeBn,
      bnMomentum: config.bnMomentum,
      stochasticDepth: config.stochasticDepth ?? 0,
      threads,
      ...(requested === 'onnx' ? {} : { cut: cut.evalCut[0].name }),
    }),
  );
  return { ...choice, note: `${choice.note}; ${what}` };
}

export async function createCachedPartialRunner(a: CachedPartialRunnerArgs): Promise<ModeRunner<CachedRowBatch>> {
  const { spec, params, numClasses, config, cut, activations } = a;
  const B = config.batchSize;
  const D = cut.dim;
  const threads = a.session.threads ?? os.availableParallelism();
  const engine = await chooseCachedEngine(a, threads);
  const native = engine.engine === 'native';
  const cutName = native || engine.val === 'native' ? cut.evalCut[0].name : undefined;
  const sessions = new SessionsByBatchSize<CachedStepSession>(async (batch) => {
    if (native) {
      const s = NativeTrainingSession.create(
        spec,
        {
          batch,
          numClasses,
          inputSize: a.inputSize,
          trainable: a.trainable,
          freezeBn: config.freezeBn,
          bnMomentum: config.bnMomentum,
          threads,
          cut: cutName,
          stochasticDepth: config.stochasticDepth ?? 0,
        },
        params,
      );
      if ('unsupported' in s)
        throw new EngineError('E_UNSUPPORTED_OP', `the native engine cannot run ${spec.name}'s trainable stages at batch ${batch}: ${s.unsupported}`, { hint: 'use --engine onnx' });
      return s;
    }
    const graph = cut.training(batch);
    const session = await Session.create(graph.bytes, { label: 'training (trainable stages)', ...a.session });
    const outputs = cachedStepOutputs(graph, numClasses);
    return {
      trainable: graph.trainable,
      running: graph.running,
      step: (x, targets, random) => cachedStep(session, graph, params, cut.cut, D, x, targets, random, outputs),
      release: () => session.release(),
    };
  });
  const N = activations.train.labels.length;
  const first = await sessions.get(Math.min(B, Math.max(1, N)));
  const changingNames = new Set([...first.trainable, ...first.running]);
  const changing: NamedTensors = new Map([...changingNames].map((n) => [n, params.get(n)!]));
  const ce = { labelSmoothing: config.labelSmoothing, classWeights: a.classWeights };
  const V = activations.val.labels.length;

  // The val phase: one native eval plan (zero-padded last batch, as the uncached runner's), or the ONNX eval suffix (dynamic batch).
  let evalLogits: (x: Float32Array, n: number) => Promise<Float32Array>;
  let evalBatch: number;
  let releaseEval: () => Promise<void>;
  if (engine.val === 'native') {
    evalBatch = Math.max(1, Math.min(NATIVE_EVAL_BATCH, V));
    const session = NativeEvalSession.create(spec, { batch: evalBatch, numClasses, inputSize: a.inputSize, threads, cut: cutName }, params);
    if ('unsupported' in session)
      throw new EngineError('E_UNSUPPORTED_OP', `the native engine cannot run ${spec.name}'s trainable stages in eval mode: ${session.unsupported}`, { hint: 'use --engine onnx' });
    evalLogits = (x, n) => session.logitsOf(x, n);
    releaseEval = () => session.release();
  } else {
    // The eval graph has a dynamic batch: larger val batches than the training batch, as the uncached runner's.
    evalBatch = Math.max(B, 32);
    const evalSession = await Session.create(cut.evalGraph.bytes, { label: 'eval (trainable stages)', ...a.session });
    const evalShapes = new Map(cut.evalGraph.params.map((p) => [p.name, p.shape]));
    evalLogits = async (x, n) => {
      const feeds = cutFeeds(x, n, cut.evalCut, D);
      for (const name of cut.evalGraph.fed) feeds[name] = { dtype: 'float32', shape: evalShapes.get(name)!, data: params.get(name)!.data };
      return (await evalSession.run(feeds, [IO.logits]))[IO.logits].data as Float32Array;
    };
    releaseEval = () => evalSession.release();
  }

  const trainBatchCount = batchCount(N, B);
  const { optimizer, scheduler, groupNames } = createRunOptimizer(
    config,
    spec,
    first.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })),
    trainBatchCount,
  );

  return {
    engine,
    trainImages: N,
    valImages: V,
    trainBatchCount,
    valBatchCount: batchCount(V, evalBatch),
    optimizer,
    scheduler,
    changing,
    groupNames,
    trainBatches: (epoch) => trainRowBatches(activations.train, D, B, config.seed, epoch),
    async trainStep(batch, epoch, index) {
      const session = await sessions.get(batch.labels.length);
      return session.step(batch.x, crossEntropyCoefficients(batch.labels, numClasses, ce), keyedRandom(config.seed, epoch, index, 0xd2));
    },
    valBatches: () => valRowBatches(activations.val, D, evalBatch),
    async evalStep(batch) {
      const logits = await evalLogits(batch.x, batch.labels.length);
      return { loss: coefficientLoss(logits, crossEntropyCoefficients(batch.labels, numClasses, ce), numClasses), logits };
    },
    async release() {
      await sessions.release();
      await releaseEval();
    },
  };
}
