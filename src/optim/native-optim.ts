/**
 * The optional native optimiser update (native/headstart_optim.cc, built by `npm run build:native`
 * with only g++): SGD's and Adam/AdamW's per-parameter loops in C++, split over threads for large
 * tensors, bit-identical to the JS loops in sgd.ts / adam.ts (same double arithmetic in the same
 * order, rounded to float32 on store; compiled without fused multiply-add).
 *
 * The optimisers use it when it loads; `HEADSTART_NATIVE_OPTIM=0` keeps the JS loops. Without the
 * built addon everything runs in JS.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/** The addon's functions (arguments as sgd.ts / adam.ts pass them to their JS kernels). */
export interface NativeOptimAddon {
  sgd(p: Float32Array, g: Float32Array, buf: Float32Array | null, lr: number, wd: number, mu: number, c: number, nesterov: boolean, first: boolean): void;
  adam(
    p: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    vmax: Float32Array | null,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    l2: number,
    decay: number,
    stepSize: number,
    invBc2Sqrt: number,
    eps: number,
  ): void;
  /** Threads one update may use (tensors under 2^18 elements run on the calling thread). */
  setThreads(threads: number): void;
  getThreads(): number;
}

let loaded: { addon: NativeOptimAddon; file: string } | { reason: string } | undefined;

function addonCandidates(): string[] {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return [`${here}../../native/build/headstart_optim.node`, `${here}../../../native/build/headstart_optim.node`];
}

/** The native optimiser addon, or why it is not used (disabled, not built, failed to load). Loaded once. */
export function loadNativeOptim(env: NodeJS.ProcessEnv = process.env): { addon: NativeOptimAddon; file: string } | { reason: string } {
  if (env.HEADSTART_NATIVE_OPTIM === '0') return { reason: 'HEADSTART_NATIVE_OPTIM=0 disables the native optimiser update' };
  if (loaded) return loaded;
  const file = addonCandidates().find((f) => fs.existsSync(f));
  if (!file) loaded = { reason: 'the native optimiser update is not built (npm run build:native; it needs g++)' };
  else {
    try {
      loaded = { addon: createRequire(import.meta.url)(file) as NativeOptimAddon, file };
    } catch (err) {
      loaded = { reason: `the native optimiser update ${file} failed to load: ${(err as Error).message} (rebuild it with npm run build:native)` };
    }
  }
  return loaded;
}

/** The addon when it loads and is not disabled, else null (the JS loops). */
export function nativeOptimOrNull(env: NodeJS.ProcessEnv = process.env): NativeOptimAddon | null {
  const n = loadNativeOptim(env);
  return 'addon' in n ? n.addon : null;
}

/**
 * Threads the native update may use (process-wide; no-op without the addon): the run's `--threads`,
 * or by default the cores up to 4 (the update is memory-bound: more threads gain little).
 */
export function setNativeOptimThreads(threads: number | null | undefined, env: NodeJS.ProcessEnv = process.env): void {
  const n = loadNativeOptim(env);
  if ('addon' in n) n.addon.setThreads(threads ?? Math.min(os.availableParallelism(), 4));
}
