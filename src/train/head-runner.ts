/**
 * Feature extraction's epochs: the backbone's features are cached (src/train/feature-cache.ts),
 * so an epoch only runs the new classifier — a tiny graph (src/train/head-graph.ts) per
 * training batch, and a plain matrix product for val. With several cached views, each
 * sample's view for an epoch is drawn from the run's seed.
 */
import type { ResolvedTrainConfig } from './options.js';
import { keyedRandom, nextFloat, randomInt, type RandomSource } from '../random.js';
import { dropoutMask } from '../graphs/dropout-mask.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { IO } from '../graphs/network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { coefficientLoss, PhaseMeter, type EpochRunner, type PhaseHooks, type PhaseStats, type ValPredictions } from './epoch-runner.js';
import type { FeatureSet } from './feature-cache.js';
import { buildHeadTrainingGraph, DROPOUT_MASK, type HeadGraph } from '../graphs/head-graph.js';
import { batchCount, epochOrder } from './image-batches.js';
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
export function headLogits(x: Float32Array, dim: number, w: Float32Array, b: Float32Array, numClasses: number): Float32Array {
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

export async function createHeadRunner(a: HeadRunnerArgs): Promise<EpochRunner> {
  const { spec, params, numClasses, config, features } = a;
  const B = config.batchSize;
  const D = features.dim;
  const wName = `${spec.head.name}.weight`;
  const bName = `${spec.head.name}.bias`;
  const changing: NamedTensors = new Map([wName, bName].map((n) => [n, params.get(n)!]));
  const graphs = new Map<number, Promise<{ graph: HeadGraph; session: Session }>>();
  const sessionFor = (batch: number) => {
    let s = graphs.get(batch);
    if (!s) {
      const graph = buildHeadTrainingGraph(spec, { batch, numClasses, featureDim: D });
      s = Session.create(graph.bytes, { label: 'head training', ...a.session }).then((session) => ({ graph, session }));
      graphs.set(batch, s);
    }
    return s;
  };
  await sessionFor(Math.min(B, Math.max(1, features.train.labels.length)));

  const N = features.train.labels.length;
  const stepsPerEpoch = batchCount(N, B);
  const { optimizer, scheduler } = createRunOptimizer(config, [...changing].map(([name, t]) => ({ name, data: t.data as Float32Array })), stepsPerEpoch);
  const ce = { labelSmoothing: config.labelSmoothing, classWeights: a.classWeights };
  const views = features.train.views;

  function evaluate(): { stats: PhaseStats; preds: ValPredictions } {
    const meter = new PhaseMeter();
    const val = features.val;
    const logits = headLogits(val.views[0], D, params.get(wName)!.data as Float32Array, params.get(bName)!.data as Float32Array, numClasses);
    // Loss per batch of the configured size, as the reference averages it.
    for (let s = 0; s < val.labels.length; s += B) {
      const e = Math.min(s + B, val.labels.length);
      const lg = logits.subarray(s * numClasses, e * numClasses);
      const labels = val.labels.subarray(s, e);
      meter.add(coefficientLoss(lg, crossEntropyCoefficients(labels, numClasses, ce), numClasses), lg, labels, numClasses);
    }
    return { stats: meter.stats(), preds: { logits, labels: val.labels, paths: val.paths } };
  }

  return {
    trainImages: N,
    valImages: features.val.labels.length,
    optimizer,
    scheduler,
    changing,
    async trainEpoch(epoch, hooks) {
      const meter = new PhaseMeter();
      await hooks.start(stepsPerEpoch, N);
      const order = epochOrder(N, true, config.seed, epoch);
      const viewRng = keyedRandom(config.seed, epoch, 0x71e3);
      const viewOf = Int32Array.from(order, () => (views.length > 1 ? randomInt(viewRng, 0, views.length) : 0));
      for (let b = 0; b < stepsPerEpoch; b++) {
        hooks.checkStop();
        const start = b * B;
        const n = Math.min(B, N - start);
        const x = new Float32Array(n * D);
        const labels = new Int32Array(n);
        for (let i = 0; i < n; i++) {
          const s = order[start + i];
          x.set(views[viewOf[start + i]].subarray(s * D, (s + 1) * D), i * D);
          labels[i] = features.train.labels[s];
        }
        const { graph, session } = await sessionFor(n);
        const feeds: Record<string, HostTensor> = {
          [IO.features]: { dtype: 'float32', shape: [n, D], data: x },
          [IO.targets]: { dtype: 'float32', shape: [n, numClasses], data: crossEntropyCoefficients(labels, numClasses, ce) },
          [wName]: changing.get(wName)!,
          [bName]: changing.get(bName)!,
        };
        if (graph.dropout > 0) feeds[DROPOUT_MASK] = { dtype: 'float32', shape: [n, D], data: dropoutMask(n * D, graph.dropout, keyedRandom(config.seed, epoch, b, 0xd209)) };
        const out = await session.run(feeds);
        const loss = (out[IO.loss].data as Float32Array)[0];
        if (!Number.isFinite(loss)) throw hooks.nonFinite(loss, b + 1, stepsPerEpoch);
        const grads = new Map(graph.trainable.map((p) => [p, out[IO.grad(p)].data as Float32Array]));
        optimizer.step(grads);
        if (scheduler.interval === 'batch') scheduler.step();
        meter.add(loss, out[IO.logits].data as Float32Array, labels, numClasses);
        await hooks.batch(b + 1, meter.images, meter.loss, meter.acc);
      }
      if (scheduler.interval === 'epoch') scheduler.step();
      return meter.stats();
    },
    async evalEpoch(_epoch, hooks) {
      await hooks.start(1, features.val.labels.length);
      const { stats } = evaluate();
      await hooks.batch(1, stats.images, stats.loss, stats.acc);
      return stats;
    },
    async predictVal() {
      return evaluate().preds;
    },
    async release() {
      for (const g of graphs.values()) await (await g).session.release();
    },
  };
}

