/**
 * A decode worker thread: rebuilds pipelines from their specs and runs one image per message
 * into a shared batch buffer, so the JS part of decoding (normalisation, resampling, sharp's
 * call setup) runs off the main thread. Started by decode-pool.ts.
 */
import { parentPort } from 'node:worker_threads';
import { HeadstartError, type ErrorCode } from '../errors.js';
import { readImageBytes } from './decode.js';
import { Pipeline, type PipelineSpec } from './pipeline.js';
import { keyedRandom } from '../random.js';

export interface DecodeTask {
  id: number;
  /** JSON of a PipelineSpec (also the cache key). */
  pipeline: string;
  path: string;
  seed: number;
  epoch: number;
  index: number;
  buffer: SharedArrayBuffer;
  /** Offset in float32 elements. */
  offset: number;
}

export interface DecodeResult {
  id: number;
  ok: boolean;
  /**
   * Set when !ok: the message; the class of a HeadstartError (DataError or IOError: a bad
   * file, skipped; others stop the run) and its code; none for a bug.
   */
  error?: { message: string; hint?: string; className?: string; code?: ErrorCode };
}

const pipelines = new Map<string, Pipeline>();

/** Decodes one task and posts its result; every failure becomes a result, so the promise never rejects. */
async function handle(t: DecodeTask): Promise<void> {
  let result: DecodeResult;
  try {
    let p = pipelines.get(t.pipeline);
    if (!p) {
      p = Pipeline.fromSpec(JSON.parse(t.pipeline) as PipelineSpec);
      pipelines.set(t.pipeline, p);
    }
    const bytes = await readImageBytes(t.path);
    await p.run(bytes, keyedRandom(t.seed, t.epoch, t.index), new Float32Array(t.buffer), t.offset, t.path);
    result = { id: t.id, ok: true };
  } catch (err) {
    const e = err as Error;
    const he = err instanceof HeadstartError ? err : undefined;
    result = { id: t.id, ok: false, error: { message: e?.message ?? String(err), hint: he?.hint, className: he?.name, code: he?.code } };
  }
  parentPort!.postMessage(result);
}

parentPort?.on('message', (t: DecodeTask) => void handle(t));
