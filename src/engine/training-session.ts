import { EngineError } from '../errors.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { Session } from './session.js';
import type { SessionOptions } from './session.js';
import type { TrainingGraph } from './training-graph.js';
import { IO } from './training-graph.js';

export interface StepResult {
  loss: number;
  /** Row-major [B, numClasses]. */
  logits: Float32Array;
  /** Gradient of every trainable parameter. */
  grads: Map<string, Float32Array>;
}

/**
 * Runs training steps of one TrainingGraph. Parameters live in `params` (host memory,
 * updated in place by the optimiser); each step feeds them by reference and writes the
 * returned running statistics back, so nothing is rebuilt between steps.
 */
export class TrainingSession {
  private readonly feeds: Record<string, HostTensor> = {};

  private constructor(
    private readonly session: Session,
    readonly graph: TrainingGraph,
    private readonly params: NamedTensors,
  ) {
    for (const p of graph.params) {
      if (!graph.fed.includes(p.name)) continue;
      const t = params.get(p.name);
      if (!t) throw new EngineError(`No value for parameter \`${p.name}\``);
      this.feeds[p.name] = { dtype: 'float32', shape: p.shape, data: t.data };
    }
  }

  static async create(graph: TrainingGraph, params: NamedTensors, options: SessionOptions = {}): Promise<TrainingSession> {
    const session = await Session.create(graph.bytes, { label: 'training', ...options });
    return new TrainingSession(session, graph, params);
  }

  async step(images: Float32Array, targets: Float32Array): Promise<StepResult> {
    const b = this.graph.batch;
    const size = Math.round(Math.sqrt(images.length / (3 * b)));
    const numClasses = targets.length / b;
    this.feeds[IO.images] = { dtype: 'float32', shape: [b, 3, size, size], data: images };
    this.feeds[IO.targets] = { dtype: 'float32', shape: [b, numClasses], data: targets };
    const out = await this.session.run(this.feeds);
    const grads = new Map<string, Float32Array>();
    for (const p of this.graph.trainable) grads.set(p, out[IO.grad(p)].data as Float32Array);
    for (const p of this.graph.running) (this.params.get(p)!.data as Float32Array).set(out[IO.running(p)].data as Float32Array);
    return { loss: (out[IO.loss].data as Float32Array)[0], logits: out[IO.logits].data as Float32Array, grads };
  }

  endProfiling(): string {
    return this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
