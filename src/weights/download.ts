import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { HeadstartError } from '../errors.js';
import { DownloadError, IOError, WeightsError, type ErrorCode } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { cachedWeightsPath, weightsCacheDir } from './cache.js';
import { parseWeightSource, sha256File, sha256Matches, type WeightSource } from './source.js';

/**
 * Verified, atomic, cached downloads of weight files. A download streams into a temp file
 * beside the final path while hashing; only a complete file whose sha256 matches is
 * renamed into place, so a partial or corrupt file never sits at the final path. Network
 * errors, 5xx/429 and truncated transfers are retried with exponential backoff; 4xx and
 * hash mismatches are not. With no network, the error says which URL to fetch and where
 * to put the file.
 */

export type ProgressCallback = (bytes: number, total: number | undefined) => void;
export type FetchImpl = (url: string, init?: RequestInit) => Promise<Response>;

const isFunction = (v: unknown) => typeof v === 'function';

const FetchWeightsOptionsSchema = z.strictObject({
  /** Cache folder; default from weightsCacheDir(). */
  cacheDir: z.string().optional(),
  /** Retries after the first attempt. */
  retries: z.number().int().min(0).max(20).default(3),
  /** First backoff delay; doubles on each retry. */
  retryDelayMs: z.number().min(0).default(1000),
  /** Abort an attempt when no bytes arrive for this long. */
  idleTimeoutMs: z.number().positive().default(60_000),
  onProgress: z.custom<ProgressCallback>(isFunction, 'expected a function').optional(),
  fetchImpl: z.custom<FetchImpl>(isFunction, 'expected a function').optional(),
});
export type FetchWeightsOptions = z.input<typeof FetchWeightsOptionsSchema>;

/** Connection-level failures that mean "no network here", not a flaky server. */
const OFFLINE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EAI_FAIL', 'EAI_NONAME', 'UND_ERR_CONNECT_TIMEOUT']);

/** A failure of one attempt; `retry` says whether another attempt may help. */
class AttemptError extends Error {
  constructor(
    readonly error: HeadstartError,
    readonly retry: boolean,
    readonly offlineCode?: string,
  ) {
    super(error.message);
  }
}

/** The first `code` found along an error's cause chain (fetch wraps socket errors). */
function errorCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && depth < 8; depth++) {
    const c = cur as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof c.code === 'string') return c.code;
    if (Array.isArray(c.errors))
      for (const sub of c.errors) {
        const code = errorCode(sub);
        if (code) return code;
      }
    cur = c.cause;
  }
  return undefined;
}

function describeError(e: unknown): string {
  const code = errorCode(e);
  const msg = e instanceof Error ? e.message : String(e);
  return code ? `${msg} (${code})` : msg;
}

function parseOptions(options: FetchWeightsOptions | undefined) {
  return parseOrThrow(FetchWeightsOptionsSchema, options ?? {}, 'Invalid download options');
}

/**
 * Return the local path of `source`'s file, downloading it into the cache first if it
 * is not there yet. A cached file is re-hashed on each call (about 0.3 s per 100 MB).
 */
export async function fetchWeights(source: WeightSource, options?: FetchWeightsOptions): Promise<string> {
  const opts = parseOptions(options);
  const src = parseWeightSource(source);
  const dir = opts.cacheDir ? resolve(opts.cacheDir) : weightsCacheDir();
  const finalPath = cachedWeightsPath(src.fileName, dir);
  const manual = `fetch ${src.url} yourself and put it at ${finalPath}, or pass --weights <file>`;

  if (existsSync(finalPath)) {
    const found = await sha256File(finalPath);
    if (sha256Matches(found, src.sha256)) return finalPath;
    throw new DownloadError('E_CHECKSUM', `Cached weight file \`${finalPath}\` has sha256 ${found}, expected ${src.sha256}`, {
      hint: `delete it to download ${src.url} again, or replace it with the right file`,
    });
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new IOError('E_WRITE_FAILED', `Cannot create the weights cache folder \`${dir}\`: ${describeError(cause)}`, {
      hint: 'set HEADSTART_HOME (or XDG_CACHE_HOME) to a writable folder',
      cause,
    });
  }

  const fetchImpl: FetchImpl = opts.fetchImpl ?? ((url, init) => fetch(url, init));
  let last: AttemptError | undefined;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, opts.retryDelayMs * 2 ** (attempt - 1)));
    try {
      await downloadOnce(src.url, src.sha256, finalPath, fetchImpl, opts.idleTimeoutMs, opts.onProgress);
      return finalPath;
    } catch (e) {
      if (!(e instanceof AttemptError)) throw e;
      last = e;
      // Offline is rarely transient: one retry, then tell the user what to do.
      if (!e.retry || (e.offlineCode && attempt >= 1)) break;
    }
  }
  const failed = last!;
  const attempts = opts.retries + 1;
  if (failed.offlineCode) {
    throw new DownloadError('E_OFFLINE', `Cannot download weights: ${src.url} is unreachable (${failed.offlineCode}); ${manual}`, {
      hint: `on a machine with network: curl -L -o ${src.fileName} '${src.url}', then copy it to ${finalPath}`,
      cause: failed.error,
    });
  }
  if (failed.retry) {
    throw new DownloadError(failed.error.code, `${failed.error.message} (gave up after ${attempts} attempts)`, { hint: failed.error.hint ?? manual, cause: failed.error.cause });
  }
  throw failed.error;
}

async function downloadOnce(url: string, sha256: string, finalPath: string, fetchImpl: FetchImpl, idleTimeoutMs: number, onProgress: ProgressCallback | undefined): Promise<void> {
  const fail = (code: ErrorCode, message: string, retry: boolean, hint?: string, cause?: unknown, offlineCode?: string): never => {
    throw new AttemptError(new DownloadError(code, message, { hint, cause }), retry, offlineCode);
  };
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Error(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
  };

  const tmp = join(resolve(finalPath, '..'), `.${finalPath.split(/[/\\]/).pop()}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  let file: Awaited<ReturnType<typeof open>> | undefined;
  try {
    touch();
    let res: Response;
    try {
      // identity: Content-Length must count the bytes we receive.
      res = await fetchImpl(url, { signal: controller.signal, redirect: 'follow', headers: { 'accept-encoding': 'identity' } });
    } catch (cause) {
      const code = errorCode(cause);
      return fail('E_OFFLINE', `Cannot connect to ${url}: ${describeError(cause)}`, true, undefined, cause, code && OFFLINE_CODES.has(code) ? code : undefined);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const status = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (res.status >= 500 || res.status === 429 || res.status === 408) return fail('E_HTTP', `Download of ${url} failed: ${status}`, true);
      return fail(
        'E_HTTP',
        `Download of ${url} failed: ${status}`,
        false,
        res.status === 404 ? 'the URL is wrong or the file has moved; download it yourself and pass --weights <file>' : 'check the URL and your access to it',
      );
    }
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const lengthHeader = res.headers.get('content-length');
    const total = !encoded && lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    const hash = createHash('sha256');
    let bytes = 0;
    file = await open(tmp, 'wx');
    onProgress?.(0, total);
    try {
      if (res.body) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          touch();
          hash.update(chunk);
          await file.write(chunk);
          bytes += chunk.length;
          onProgress?.(bytes, total);
        }
      }
    } catch (cause) {
      if (cause instanceof AttemptError) throw cause;
      return fail(
        'E_TRUNCATED',
        `Download of ${url} is truncated: the connection broke after ${bytes}${total === undefined ? '' : ` of ${total}`} bytes (${describeError(cause)})`,
        true,
        undefined,
        cause,
      );
    }
    if (total !== undefined && bytes !== total) {
      fail('E_TRUNCATED', `Download of ${url} is truncated: received ${bytes} of ${total} bytes`, true);
    }
    await file.sync();
    await file.close();
    file = undefined;
    const found = hash.digest('hex');
    if (!sha256Matches(found, sha256)) {
      fail(
        'E_CHECKSUM',
        `Download of ${url} has sha256 ${found}, expected ${sha256}`,
        false,
        'the server sent another file than the one this model expects; check the URL, or download the right file and pass --weights <file>',
      );
    }
    await rename(tmp, finalPath);
  } finally {
    clearTimeout(timer);
    if (file) await file.close().catch(() => {});
    await unlink(tmp).catch(() => {}); // gone after a successful rename
  }
}

/**
 * The weight file to use: a local `file` when given (it must exist; its hash is not
 * checked, since fine-tuned weights are legitimate), otherwise `source` fetched into
 * the cache.
 */
export async function resolveWeightsFile(file: string | undefined, source: WeightSource | undefined, options?: FetchWeightsOptions): Promise<string> {
  if (file !== undefined) {
    const path = resolve(file);
    let isFile: boolean;
    try {
      isFile = (await stat(path)).isFile();
    } catch (cause) {
      throw new IOError('E_NOT_FOUND', `Weight file \`${file}\` does not exist`, { hint: 'check the path given with --weights', cause });
    }
    if (!isFile) throw new IOError('E_READ_FAILED', `Weight file \`${file}\` is not a file`, { hint: 'pass the .pth / .safetensors file itself with --weights' });
    return path;
  }
  if (source === undefined) {
    throw new WeightsError('E_NO_WEIGHTS', 'No weights: this model has no known weight source', { hint: 'pass a weight file with --weights <file>' });
  }
  return fetchWeights(source, options);
}
