import { EngineError } from '../errors.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import type { RandomSource } from '../random.js';
import { fillDropoutMask } from './dropout-mask.js';
import { Session } from '../engine/session.js';
import type { SessionOptions } from '../engine/session.js';
import type { TrainingGraph } from './network-graph.js';
import { IO } from './network-graph.js';

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
  /** Output buffers allocated once and filled by every step (no per-step allocation). */
  private outputs: Record<string, HostTensor> | undefined;

  private constructor(
    private readonly session: Session,
    readonly graph: TrainingGraph,
    private readonly params: NamedTensors,
  ) {
    for (const p of graph.params) {
      if (!graph.fed.includes(p.name)) continue;
      const t = params.get(p.name);
      if (!t) throw new EngineError('E_INTERNAL', `No value for parameter \`${p.name}\` of the training graph (a bug in headstart: the parameters must cover the graph)`);
      this.feeds[p.name] = { dtype: 'float32', shape: p.shape, data: t.data };
    }
  }

  /** Parameters that get a gradient. */
  get trainable(): string[] {
    return this.graph.trainable;
  }

  /** Running statistics each step updates. */
  get running(): string[] {
    return this.graph.running;
  }

  /**
   * ONNX Runtime's memory-pattern planner is off by default here (`options.memPattern` turns it
   * on): it records the first run's allocations and, from the second run on, allocates them as one
   * block while the arena still holds the first run's chunks, so a ResNet18 b16 step peaked at
   * 1670 MB RSS with it and 1074 MB without, at the same CPU time per step (issue 10).
   */
  static async create(graph: TrainingGraph, params: NamedTensors, options: SessionOptions = {}): Promise<TrainingSession> {
    const session = await Session.create(graph.bytes, { label: 'training', ...options, memPattern: options.memPattern ?? false });
    return new TrainingSession(session, graph, params);
  }

  /**
   * One training step. The returned gradients and logits are buffers this session reuses:
   * consume them (optimiser step, metrics) before the next call. `random` draws the dropout
   * masks (needed when the network has dropout or stochastic depth).
   */
  async step(images: Float32Array, targets: Float32Array, random?: RandomSource): Promise<StepResult> {
    const b = this.graph.batch;
    for (const m of this.graph.masks) {
      if (!random)
        throw new EngineError('E_BAD_ARGUMENT', 'This training graph has dropout or stochastic depth: pass a seeded random source to step()', { hint: 'e.g. keyedRandom(seed, epoch, batch)' });
      const t = (this.feeds[m.name] ??= { dtype: 'float32', shape: m.shape, data: new Float32Array(m.shape.reduce((x, y) => x * y, 1)) });
      fillDropoutMask(t.data as Float32Array, m.ratio, random);
    }
    const size = Math.round(Math.sqrt(images.length / (3 * b)));
    const numClasses = targets.length / b;
    this.feeds[IO.images] = { dtype: 'float32', shape: [b, 3, size, size], data: images };
    this.feeds[IO.targets] = { dtype: 'float32', shape: [b, numClasses], data: targets };
    this.outputs ??= this.allocateOutputs(numClasses);
    const out = await this.session.run(this.feeds, this.outputs);
    const grads = new Map<string, Float32Array>();
    for (const p of this.graph.trainable) grads.set(p, out[IO.grad(p)].data as Float32Array);
    for (const p of this.graph.running) (this.params.get(p)!.data as Float32Array).set(out[IO.running(p)].data as Float32Array);
    return { loss: (out[IO.loss].data as Float32Array)[0], logits: out[IO.logits].data as Float32Array, grads };
  }

  private allocateOutputs(numClasses: number): Record<string, HostTensor> {
    const f32 = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
    const out: Record<string, HostTensor> = { [IO.loss]: f32([]), [IO.logits]: f32([this.graph.batch, numClasses]) };
    const shapes = new Map(this.graph.params.map((p) => [p.name, p.shape]));
    for (const p of this.graph.trainable) out[IO.grad(p)] = f32(shapes.get(p)!);
    for (const p of this.graph.running) out[IO.running(p)] = f32(shapes.get(p)!);
    return out;
  }

  endProfiling(): string {
    return this.session.endProfiling();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
