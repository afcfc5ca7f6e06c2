/**
 * Fine-tuning: every epoch runs the training images (augmented) through the whole network
 * in one ONNX Runtime graph per step — forward, loss, gradients, BatchNorm statistics — and
 * the val images through an eval graph. Frozen parameters (--unfreeze-last) are embedded as
 * constants. Graphs have a fixed batch, so a smaller last batch gets its own graph, built
 * once and kept.
 */
import type { ResolvedTrainConfig } from './options.js';
import type { Pipeline } from '../data/pipeline.js';
import type { Sample } from '../data/sample.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { keyedRandom } from '../random.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../graphs/network-graph.js';
import { TrainingSession } from '../graphs/training-session.js';
import type { ModelSpec } from '../models/model-spec.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import type { NamedTensors } from '../tensor.js';
import { coefficientLoss, type ModeRunner } from './mode-runner.js';
import { SessionsByBatchSize } from './sessions-by-batch-size.js';
import { batchCount, imageBatches, type ImageBatch } from './image-batches.js';
import { createRunOptimizer } from './run-optimizer.js';

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
}

export async function createFinetuneRunner(a: FinetuneRunnerArgs): Promise<ModeRunner<ImageBatch>> {
  const { spec, params, numClasses, config } = a;
  const B = config.batchSize;
  const build = (batch: number) =>
    buildTrainingGraph(spec, { batch, numClasses, inputSize: a.inputSize, trainable: a.trainable, constants: params, freezeBn: config.freezeBn, bnMomentum: config.bnMomentum });
  const main = build(B);
  const sessions = new SessionsByBatchSize((batch) => TrainingSession.create(batch === B ? main : build(batch), params, a.session));
  await sessions.get(B);

  const changingNames = new Set([...main.trainable, ...main.running]);
  const changing: NamedTensors = new Map([...changingNames].map((n) => [n, params.get(n)!]));
  const frozen: NamedTensors = new Map([...params].filter(([n]) => !changingNames.has(n)));
  const evalGraph = buildInferenceGraph(spec, { batch: -1, numClasses, inputSize: a.inputSize, constants: frozen });
  const evalSession = await Session.create(evalGraph.bytes, { label: 'eval', ...a.session });
  const evalFeeds = Object.fromEntries(evalGraph.fed.map((n) => [n, params.get(n)!]));

  const trainBatchCount = batchCount(a.train.length, B);
  const { optimizer, scheduler, groupNames } = createRunOptimizer(
    config,
    spec,
    main.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })),
    trainBatchCount,
  );
  const ce = { labelSmoothing: config.labelSmoothing, classWeights: a.classWeights };
  const evalBatch = Math.max(B, 32);

  return {
    trainImages: a.train.length,
    valImages: a.val.length,
    trainBatchCount,
    valBatchCount: batchCount(a.val.length, evalBatch),
    optimizer,
    scheduler,
    changing,
    groupNames,
    trainBatches: (epoch) => imageBatches(a.train, a.trainTransform, { batchSize: B, shuffle: true, seed: config.seed, epoch, onSkip: a.onSkip }),
    async trainStep(batch, epoch, index) {
      const session = await sessions.get(batch.labels.length);
      return session.step(batch.images, crossEntropyCoefficients(batch.labels, numClasses, ce), keyedRandom(config.seed, epoch, index, 0xd2));
    },
    valBatches: () => imageBatches(a.val, a.evalTransform, { batchSize: evalBatch, shuffle: false, seed: config.seed, epoch: 0, onSkip: a.onSkip }),
    async evalStep(batch) {
      const n = batch.labels.length;
      const out = await evalSession.run({ ...evalFeeds, [IO.images]: { dtype: 'float32', shape: [n, 3, a.inputSize, a.inputSize], data: batch.images } }, [IO.logits]);
      const logits = out[IO.logits].data as Float32Array;
      return { loss: coefficientLoss(logits, crossEntropyCoefficients(batch.labels, numClasses, ce), numClasses), logits };
    },
    async release() {
      await sessions.release();
      await evalSession.release();
    },
  };
}
