/**
 * The optional native convolution prototype of issue 10 (lever 6): fp32 2-D convolution forward,
 * backward-data and backward-weights on oneDNN, through the N-API addon built by
 * `native/build.sh` (Debian's libdnnl-dev and a C++ compiler; see native/README.md). Nothing in
 * training uses it: it is measured by bench/native-conv.ts and checked by
 * test/native-conv.test.ts, and absent wherever the addon was not built.
 *
 * HEADSTART_NATIVE_CONV=0 hides the addon even where it is built.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { EngineError, ERROR_CODES, type ErrorCode } from '../errors.js';

/** One convolution's shapes and attributes (ONNX Conv's, NCHW input, [M, C/group, kH, kW] weight). */
export interface NativeConvSpec {
  /** Input shape [N, C, H, W]. */
  x: [number, number, number, number];
  /** Weight shape [M, C/group, kH, kW]. */
  w: [number, number, number, number];
  strides?: [number, number];
  /** [top, left, bottom, right], ONNX's order. */
  pads?: [number, number, number, number];
  dilations?: [number, number];
  group?: number;
}

/** Time the addon spent since the last resetStats (milliseconds). */
export interface NativeConvStats {
  /** Converting plain NCHW/OIHW buffers to and from oneDNN's blocked layouts. */
  reorderMs: number;
  /** The convolution primitives themselves. */
  computeMs: number;
  /** Creating primitives (once per shape). */
  createMs: number;
  /** Distinct convolution shapes cached. */
  layers: number;
}

/** What the compiled addon exports (native/headstart_dnnl.cc). */
interface Addon {
  info(): { dnnl: string; isa: number; threads: number };
  setThreads(n: number): void;
  forward(spec: NativeConvSpec, x: Float32Array, w: Float32Array, y: Float32Array): void;
  backwardData(spec: NativeConvSpec, dy: Float32Array, w: Float32Array, dx: Float32Array): void;
  backwardWeights(spec: NativeConvSpec, x: Float32Array, dy: Float32Array, dw: Float32Array): void;
  stats(): NativeConvStats;
  resetStats(): void;
}

/** The output shape [N, M, OH, OW] of a convolution. */
export function nativeConvOutputShape(spec: NativeConvSpec): [number, number, number, number] {
  const [n, , h, w] = spec.x;
  const [m, , kh, kw] = spec.w;
  const [sh, sw] = spec.strides ?? [1, 1];
  const [pt, pl, pb, pr] = spec.pads ?? [0, 0, 0, 0];
  const [dh, dw] = spec.dilations ?? [1, 1];
  return [n, m, Math.floor((h + pt + pb - (kh - 1) * dh - 1) / sh) + 1, Math.floor((w + pl + pr - (kw - 1) * dw - 1) / sw) + 1];
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The addon, wrapped: outputs are allocated when not given, and its errors become EngineErrors. */
export class NativeConv {
  constructor(
    private readonly addon: Addon,
    /** The addon file loaded. */
    readonly file: string,
  ) {}

  /** oneDNN's version, its CPU instruction set code and the thread count. */
  info(): { dnnl: string; isa: number; threads: number } {
    return this.addon.info();
  }

  /** oneDNN's (OpenMP) thread count for the following calls. */
  setThreads(n: number): void {
    this.call(() => this.addon.setThreads(n));
  }

  /** y = conv(x, w), [N, M, OH, OW]. */
  forward(spec: NativeConvSpec, x: Float32Array, w: Float32Array, y = new Float32Array(size(nativeConvOutputShape(spec)))): Float32Array {
    this.call(() => this.addon.forward(spec, x, w, y));
    return y;
  }

  /** dL/dx from dy = dL/dy, [N, C, H, W]. */
  backwardData(spec: NativeConvSpec, dy: Float32Array, w: Float32Array, dx = new Float32Array(size(spec.x))): Float32Array {
    this.call(() => this.addon.backwardData(spec, dy, w, dx));
    return dx;
  }

  /** dL/dw from the input x and dy = dL/dy, [M, C/group, kH, kW]. */
  backwardWeights(spec: NativeConvSpec, x: Float32Array, dy: Float32Array, dw = new Float32Array(size(spec.w))): Float32Array {
    this.call(() => this.addon.backwardWeights(spec, x, dy, dw));
    return dw;
  }

  stats(): NativeConvStats {
    return this.addon.stats();
  }

  resetStats(): void {
    this.addon.resetStats();
  }

  private call(body: () => void): void {
    try {
      body();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const known = ERROR_CODES.includes(code as ErrorCode) ? (code as ErrorCode) : 'E_ENGINE_RUN';
      throw new EngineError(known, `Native convolution: ${(err as Error).message}`, {
        hint: 'give NCHW float32 buffers whose lengths match the spec (input [N, C, H, W], weight [M, C/group, kH, kW])',
        cause: err,
      });
    }
  }
}

/** Where the addon lives: native/build next to src/ (from src/engine or dist/src/engine). */
function addonCandidates(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return [`${here}../../native/build/headstart_dnnl.node`, `${here}../../../native/build/headstart_dnnl.node`];
}

/** The built addon file, or undefined (the plan executor, native-plan.ts, lives in the same file). */
export function nativeAddonFile(): string | undefined {
  return addonCandidates().find((f) => fs.existsSync(f));
}

/** The native convolution addon, or why it is not available (not built, disabled, failed to load). */
export function loadNativeConv(env: NodeJS.ProcessEnv = process.env): { conv: NativeConv } | { reason: string } {
  if (env.HEADSTART_NATIVE_CONV === '0') return { reason: 'HEADSTART_NATIVE_CONV=0 disables the native convolution addon' };
  const file = nativeAddonFile();
  if (!file) return { reason: 'the native convolution addon is not built (run native/build.sh; it needs g++ and Debian libdnnl-dev)' };
  try {
    const addon = createRequire(import.meta.url)(file) as Addon;
    return { conv: new NativeConv(addon, file) };
  } catch (err) {
    return { reason: `the native convolution addon ${file} failed to load: ${(err as Error).message} (rebuild it with native/build.sh)` };
  }
}

/** The native convolution addon; throws E_DEVICE with the reason when it is not available. */
export function requireNativeConv(env: NodeJS.ProcessEnv = process.env): NativeConv {
  const loaded = loadNativeConv(env);
  if ('conv' in loaded) return loaded.conv;
  throw new EngineError('E_DEVICE', `No native convolution engine: ${loaded.reason}`, {
    hint: 'apt-get install -y g++ libdnnl-dev && native/build.sh, or leave the addon out (training never needs it)',
  });
}
