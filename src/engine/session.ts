import ort from 'onnxruntime-node';
import { threadCount } from './thread-count.js';
import { EngineError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';

export interface SessionOptions {
  /** Intra-op threads (default: all cores). */
  threads?: number;
  /** Execution provider: 'cpu' (default) or 'cuda' where ONNX Runtime's CUDA provider is installed. */
  device?: 'cpu' | 'cuda';
  /** Write an ONNX Runtime profile (JSON) with this file prefix. */
  profilePrefix?: string;
  /** Name for error messages. */
  label?: string;
  /**
   * ONNX Runtime session config entries (`session.set_denormal_as_zero`,
   * `session.intra_op.allow_spinning`, ...). Default: those of sessionTuning(process.env).
   */
  config?: Record<string, string>;
  /** ONNX Runtime's memory-pattern planner (default true): one block per run, planned after the first run. */
  memPattern?: boolean;
  /** ONNX Runtime's CPU memory arena (default true). */
  memArena?: boolean;
}

/**
 * Session settings from the environment, for A/B measurements of issue 10's lever 5:
 * HEADSTART_ORT_DENORMAL_ZERO=1 flushes denormals to zero, HEADSTART_ORT_SPINNING=0 stops the
 * intra-op threads spinning between kernels. Unset: ONNX Runtime's defaults.
 */
function sessionTuning(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const config: Record<string, string> = {};
  if (env.HEADSTART_ORT_DENORMAL_ZERO === '1') config['session.set_denormal_as_zero'] = '1';
  if (env.HEADSTART_ORT_SPINNING === '0' || env.HEADSTART_ORT_SPINNING === '1') config['session.intra_op.allow_spinning'] = env.HEADSTART_ORT_SPINNING;
  return config;
}

const ORT_TYPES: Record<DType, ort.Tensor.Type> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  uint8: 'uint8',
  bool: 'bool',
};

function toOrtTensor(t: HostTensor): ort.Tensor {
  return new ort.Tensor(ORT_TYPES[t.dtype], t.data as never, t.shape);
}

function fromOrtTensor(t: ort.Tensor): HostTensor {
  const dtype = (t.type === 'bool' ? 'bool' : t.type) as DType;
  return { dtype, shape: [...t.dims], data: t.data as HostTensor['data'] };
}

/** `a.b.c: v` config keys as onnxruntime-node's nested `extra` object. */
function nestConfig(config: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    const parts = key.split('.');
    let node = out;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

/** One ONNX Runtime session over a graph: created once, run at every step. */
export class Session {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly label: string,
  ) {}

  static async create(model: Uint8Array, options: SessionOptions = {}): Promise<Session> {
    const label = options.label ?? 'graph';
    const device = options.device ?? 'cpu';
    if (device === 'cuda' && !ort.listSupportedBackends().some((b) => b.name === 'cuda')) {
      throw new EngineError('E_DEVICE', 'CUDA was requested but this onnxruntime-node build has no CUDA provider', {
        hint: 'reinstall onnxruntime-node with CUDA enabled (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --dangerously-allow-all-scripts`) or use --device cpu',
      });
    }
    try {
      const session = await ort.InferenceSession.create(model, {
        executionProviders: [device],
        intraOpNumThreads: threadCount(options.threads).threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        enableCpuMemArena: options.memArena ?? true,
        enableMemPattern: options.memPattern ?? true,
        enableProfiling: options.profilePrefix !== undefined,
        profileFilePrefix: options.profilePrefix,
        logSeverityLevel: 3,
        extra: nestConfig(options.config ?? sessionTuning()),
      });
      return new Session(session, label);
    } catch (err) {
      throw new EngineError('E_ENGINE_SESSION', `ONNX Runtime could not load the ${label} graph: ${(err as Error).message}`, { cause: err });
    }
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /**
   * Runs the graph. `outputs` names the outputs to fetch (default: all); or pass tensors to
   * fill (pre-allocated outputs, reused across steps instead of allocating new buffers).
   */
  async run(feeds: Record<string, HostTensor>, outputs?: readonly string[] | Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrtTensor(t);
    let result: ort.InferenceSession.ReturnType;
    try {
      if (outputs === undefined) result = await this.session.run(ortFeeds);
      else if (Array.isArray(outputs)) result = await this.session.run(ortFeeds, outputs as string[]);
      else {
        const fetches: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(outputs as Record<string, HostTensor>)) fetches[name] = toOrtTensor(t);
        result = await this.session.run(ortFeeds, fetches);
        // The binding fills the given buffers; return them (not copies) to the caller.
        const filled: Record<string, HostTensor> = {};
        for (const [name, t] of Object.entries(outputs as Record<string, HostTensor>)) filled[name] = t;
        return filled;
      }
    } catch (err) {
      throw new EngineError('E_ENGINE_RUN', `ONNX Runtime failed running the ${this.label} graph: ${(err as Error).message}`, { cause: err });
    }
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(result)) out[name] = fromOrtTensor(t);
    return out;
  }

  endProfiling(): string {
    return this.session.endProfiling() as unknown as string;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
