/**
 * Fine-tuning: every epoch runs the training images (augmented) through the whole network
 * in one ONNX Runtime graph per step — forward, loss, gradients, BatchNorm statistics — and
 * the val images through an eval graph. Frozen parameters (--unfreeze-last) are embedded as
 * constants. Graphs have a fixed batch, so a smaller last batch gets its own graph, built
 * once and kept.
 */
import type { ResolvedTrainConfig } from '../config.js';
import type { Pipeline } from '../data/pipeline.js';
import type { Sample } from '../data/sample.js';
import { Session, type SessionOptions } from '../engine/session.js';
import { keyedRandom } from '../data/random.js';
import { buildInferenceGraph, buildTrainingGraph, IO, type TrainingGraph } from '../engine/training-graph.js';
import { TrainingSession } from '../engine/training-session.js';
import type { ModelSpec } from '../models/model-spec.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import type { NamedTensors } from '../tensor.js';
import { coefficientLoss, PhaseMeter, type EpochRunner, type PhaseHooks, type PhaseStats, type ValPredictions } from './epoch-runner.js';
import { batchCount, imageBatches } from './image-batches.js';
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

export async function createFinetuneRunner(a: FinetuneRunnerArgs): Promise<EpochRunner> {
  const { spec, params, numClasses, config } = a;
  const B = config.batchSize;
  const build = (batch: number) =>
    buildTrainingGraph(spec, { batch, numClasses, inputSize: a.inputSize, trainable: a.trainable, constants: params, freezeBn: config.freezeBn, bnMomentum: config.bnMomentum });
  const main = build(B);
  const sessions = new Map<number, Promise<TrainingSession>>();
  const sessionFor = (batch: number): Promise<TrainingSession> => {
    let s = sessions.get(batch);
    if (!s) {
      const graph: TrainingGraph = batch === B ? main : build(batch);
      s = TrainingSession.create(graph, params, a.session);
      sessions.set(batch, s);
    }
    return s;
  };
  await sessionFor(B);

  const changingNames = new Set([...main.trainable, ...main.running]);
  const changing: NamedTensors = new Map([...changingNames].map((n) => [n, params.get(n)!]));
  const frozen: NamedTensors = new Map([...params].filter(([n]) => !changingNames.has(n)));
  const evalGraph = buildInferenceGraph(spec, { batch: -1, numClasses, inputSize: a.inputSize, constants: frozen });
  const evalSession = await Session.create(evalGraph.bytes, { label: 'eval', ...a.session });
  const evalFeeds = Object.fromEntries(evalGraph.fed.map((n) => [n, params.get(n)!]));

  const stepsPerEpoch = batchCount(a.train.length, B);
  const { optimizer, scheduler } = createRunOptimizer(config, main.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })), stepsPerEpoch);
  const ce = { labelSmoothing: config.labelSmoothing, classWeights: a.classWeights };
  const evalBatch = Math.max(B, 32);

  async function evaluate(hooks: PhaseHooks | undefined, keep: boolean): Promise<{ stats: PhaseStats; preds?: ValPredictions }> {
    const meter = new PhaseMeter();
    const batches = batchCount(a.val.length, evalBatch);
    await hooks?.start(batches, a.val.length);
    const logitsAll: Float32Array[] = [];
    const labelsAll: Int32Array[] = [];
    const paths: string[] = [];
    let b = 0;
    for await (const batch of imageBatches(a.val, a.evalTransform, { batchSize: evalBatch, shuffle: false, seed: config.seed, epoch: 0, onSkip: a.onSkip })) {
      hooks?.checkStop();
      const n = batch.labels.length;
      const out = await evalSession.run({ ...evalFeeds, [IO.images]: { dtype: 'float32', shape: [n, 3, a.inputSize, a.inputSize], data: batch.images } }, [IO.logits]);
      const logits = out[IO.logits].data as Float32Array;
      const loss = coefficientLoss(logits, crossEntropyCoefficients(batch.labels, numClasses, ce), numClasses);
      meter.add(loss, logits, batch.labels, numClasses);
      batch.release();
      if (keep) {
        logitsAll.push(logits.slice());
        labelsAll.push(batch.labels);
        paths.push(...batch.paths);
      }
      await hooks?.batch(++b, meter.images, meter.loss, meter.acc);
    }
    const stats = meter.stats();
    if (!keep) return { stats };
    return { stats, preds: { logits: concat(logitsAll), labels: Int32Array.from(labelsAll.flatMap((l) => Array.from(l))), paths } };
  }

  return {
    trainImages: a.train.length,
    valImages: a.val.length,
    optimizer,
    scheduler,
    changing,
    async trainEpoch(epoch, hooks) {
      const meter = new PhaseMeter();
      await hooks.start(stepsPerEpoch, a.train.length);
      let b = 0;
      for await (const batch of imageBatches(a.train, a.trainTransform, { batchSize: B, shuffle: true, seed: config.seed, epoch, onSkip: a.onSkip })) {
        hooks.checkStop();
        const session = await sessionFor(batch.labels.length);
        const r = await session.step(batch.images, crossEntropyCoefficients(batch.labels, numClasses, ce), keyedRandom(config.seed, epoch, b, 0xd2));
        b++;
        if (!Number.isFinite(r.loss)) throw hooks.nonFinite(r.loss, b, stepsPerEpoch);
        optimizer.step(r.grads);
        if (scheduler.interval === 'batch') scheduler.step();
        meter.add(r.loss, r.logits, batch.labels, numClasses);
        batch.release(); // the loader recycles the image buffer
        await hooks.batch(b, meter.images, meter.loss, meter.acc);
      }
      if (scheduler.interval === 'epoch') scheduler.step();
      return meter.stats();
    },
    async evalEpoch(_epoch, hooks) {
      return (await evaluate(hooks, false)).stats;
    },
    async predictVal() {
      return (await evaluate(undefined, true)).preds!;
    },
    async release() {
      for (const s of sessions.values()) await (await s).release();
      await evalSession.release();
    },
  };
}

export function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
