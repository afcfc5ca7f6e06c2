/**
 * Feature extraction's epochs: the backbone's features are cached (src/train/feature-cache.ts),
 * so an epoch only runs the new classifier — a tiny graph (src/graphs/head-graph.ts) per
 * training batch, and a plain matrix product for val. With several cached views, each
 * sample's view for an epoch is drawn from the run's seed.
 */
import type { ResolvedTrainConfig } from './options.js';
import { keyedRandom } from '../random.js';
import { dropoutMask } from '../graphs/dropout-mask.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { IO } from '../graphs/network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { coefficientLoss, type ModeRunner } from './mode-runner.js';
import { SessionsByBatchSize } from './sessions-by-batch-size.js';
import type { FeatureSet } from './feature-cache.js';
import { buildHeadTrainingGraph, DROPOUT_MASK } from '../graphs/head-graph.js';
import { batchCount } from './image-batches.js';
import { trainRowBatches, valRowBatches, type CachedRowBatch } from './cached-row-batches.js';
import { createRunOptimizer } from './run-optimizer.js';

export interface HeadRunnerArgs {
  spec: ModelSpec;
  /** Every parameter of the network; the head's are trained in place. */
  params: NamedTensors;
  numClasses: number;
  features: FeatureSet;
  config: ResolvedTrainConfig;
  classWeights?: number[];
  session: SessionOptions;
}

/** Logits of a feature matrix [N, D] through Linear(W [K, D], b [K]). */
function headLogits(x: Float32Array, dim: number, w: Float32Array, b: Float32Array, numClasses: number): Float32Array {
  const n = x.length / dim;
  const out = new Float32Array(n * numClasses);
  for (let i = 0; i < n; i++) {
    const xi = i * dim;
    for (let k = 0; k < numClasses; k++) {
      const wk = k * dim;
      let s = 0;
      for (let d = 0; d < dim; d++) s += x[xi + d] * w[wk + d];
      out[i * numClasses + k] = s + b[k];
    }
  }
  return out;
}

export async function createHeadRunner(a: HeadRunnerArgs): Promise<ModeRunner<CachedRowBatch>> {
  const { spec, params, numClasses, config, features } = a;
  const B = config.batchSize;
  const D = features.dim;
  const wName = `${spec.head.name}.weight`;
  const bName = `${spec.head.name}.bias`;
  const changing: NamedTensors = new Map([wName, bName].map((n) => [n, params.get(n)!]));
  const sessions = new SessionsByBatchSize(async (batch) => {
    const graph = buildHeadTrainingGraph(spec, { batch, numClasses, featureDim: D });
    const session = await Session.create(graph.bytes, { label: 'head training', ...a.session });
    return { graph, session, release: () => session.release() };
  });
  await sessions.get(Math.min(B, Math.max(1, features.train.labels.length)));

  const N = features.train.labels.length;
  const trainBatchCount = batchCount(N, B);
  const { optimizer, scheduler, groupNames } = createRunOptimizer(
    config,
    spec,
    [...changing].map(([name, t]) => ({ name, data: t.data as Float32Array })),
    trainBatchCount,
  );
  const ce = { labelSmoothing: config.labelSmoothing, classWeights: a.classWeights };

  return {
    trainImages: N,
    valImages: features.val.labels.length,
    trainBatchCount,
    valBatchCount: batchCount(features.val.labels.length, B),
    optimizer,
    scheduler,
    changing,
    groupNames,
    trainBatches: (epoch) => trainRowBatches(features.train, D, B, config.seed, epoch),
    async trainStep(batch, epoch, index) {
      const n = batch.labels.length;
      const { graph, session } = await sessions.get(n);
      const feeds: Record<string, HostTensor> = {
        [IO.features]: { dtype: 'float32', shape: [n, D], data: batch.x },
        [IO.targets]: { dtype: 'float32', shape: [n, numClasses], data: crossEntropyCoefficients(batch.labels, numClasses, ce) },
        [wName]: changing.get(wName)!,
        [bName]: changing.get(bName)!,
      };
      if (graph.dropout > 0) feeds[DROPOUT_MASK] = { dtype: 'float32', shape: [n, D], data: dropoutMask(n * D, graph.dropout, keyedRandom(config.seed, epoch, index, 0xd209)) };
      const out = await session.run(feeds);
      return {
        loss: (out[IO.loss].data as Float32Array)[0],
        logits: out[IO.logits].data as Float32Array,
        grads: new Map(graph.trainable.map((p) => [p, out[IO.grad(p)].data as Float32Array])),
      };
    },
    valBatches: () => valRowBatches(features.val, D, B),
    async evalStep(batch) {
      const logits = headLogits(batch.x, D, params.get(wName)!.data as Float32Array, params.get(bName)!.data as Float32Array, numClasses);
      return { loss: coefficientLoss(logits, crossEntropyCoefficients(batch.labels, numClasses, ce), numClasses), logits };
    },
    release: () => sessions.release(),
  };
}
