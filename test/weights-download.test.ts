import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DownloadError, IOError, type ErrorCode } from '../src/errors.js';
import { weightsCacheDir } from '../src/weights/cache.js';
import { fetchWeights, resolveWeightsFile } from '../src/weights/download.js';
import { readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';

// The payload: a real weight file (safetensors), ~256 KiB so it streams in several chunks.
const payload = writeSafetensors(new Map([['fc.weight', { dtype: 'float32', shape: [256, 256], data: Float32Array.from({ length: 65536 }, (_, i) => Math.sin(i)) }]]));
const sha = createHash('sha256').update(payload).digest('hex');

const hits = new Map<string, number>();
let server: http.Server;
let base = '';
let cache = '';

function route(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = req.url ?? '';
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const n = hits.get(path)!;
  switch (path) {
    case '/w/model.safetensors':
    case '/w/other-name.bin':
      res.writeHead(200, { 'content-length': String(payload.length) });
      res.end(payload);
      return;
    case '/w/flaky.safetensors': // 503, then a cut connection, then the file
      if (n === 1) {
        res.writeHead(503).end();
      } else if (n === 2) {
        res.writeHead(200, { 'content-length': String(payload.length) });
        res.write(payload.subarray(0, 1000), () => res.destroy());
      } else {
        res.writeHead(200, { 'content-length': String(payload.length) });
        res.end(payload);
      }
      return;
    case '/w/truncated.safetensors': // Content-Length larger than the body
      res.writeHead(200, { 'content-length': String(payload.length + 5000) });
      res.write(payload, () => res.destroy());
      return;
    case '/w/cut.safetensors': // chunked, connection dropped midway
      res.writeHead(200);
      res.write(payload.subarray(0, payload.length >> 1), () => res.destroy());
      return;
    case '/w/wrong.safetensors':
      res.writeHead(200, { 'content-length': String(payload.length) });
      res.end(Buffer.from(payload).reverse());
      return;
    case '/w/down.safetensors':
      res.writeHead(500, 'Internal Server Error').end();
      return;
    default:
      res.writeHead(404, 'Not Found').end('no such file');
  }
}

const fast = () => ({ cacheDir: cache, retryDelayMs: 1, retries: 2, idleTimeoutMs: 5000 });
const source = (name: string, hash = sha) => ({ url: `${base}/w/${name}`, sha256: hash });

/** The cache holds exactly `names`: no partial or temp file. */
function cacheHolds(...names: string[]): void {
  assert.deepEqual(readdirSync(cache).sort(), names.sort());
}

async function expectDownloadError(p: Promise<unknown>, code: ErrorCode, pattern: RegExp): Promise<DownloadError> {
  let caught: unknown;
  await p.catch((e: unknown) => {
    caught = e;
  });
  assert.ok(caught instanceof DownloadError, `expected a DownloadError, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.match(caught.message, pattern);
  return caught;
}

describe('weights: verified downloads against a local server', () => {
  before(async () => {
    server = http.createServer(route);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // Bounded: the server goes away even if a test hangs.
    setTimeout(() => server.close(), 60_000).unref();
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    if (cache) rmSync(cache, { recursive: true, force: true });
    cache = mkdtempSync(join(tmpdir(), 'headstart-dl-'));
    hits.clear();
  });
  after(() => rmSync(cache, { recursive: true, force: true }));

  test('downloads, verifies, reports progress, then hits the cache without a request', async () => {
    const progress: [number, number | undefined][] = [];
    const path = await fetchWeights(source('model.safetensors'), { ...fast(), onProgress: (b, t) => progress.push([b, t]) });
    assert.equal(path, join(cache, 'model.safetensors'));
    assert.ok(readFileSync(path).equals(payload));
    assert.equal(readSafetensors(readFileSync(path)).get('fc.weight')!.shape[0], 256);
    assert.deepEqual(progress[0], [0, payload.length]);
    assert.deepEqual(progress.at(-1), [payload.length, payload.length]);
    assert.ok(
      progress.every(([b], i) => i === 0 || b >= progress[i - 1][0]),
      'progress is monotonic',
    );

    const again = await fetchWeights(source('model.safetensors'), fast());
    assert.equal(again, path);
    assert.equal(hits.get('/w/model.safetensors'), 1, 'a cache hit makes no request');
    // A hash prefix (torchvision's file-name convention) is accepted too.
    assert.equal(await fetchWeights(source('model.safetensors', sha.slice(0, 8).toUpperCase()), fast()), path);
    cacheHolds('model.safetensors');
  });

  test('fileName overrides the URL name', async () => {
    const path = await fetchWeights({ ...source('other-name.bin'), fileName: 'resnet18-abc.pth' }, fast());
    assert.equal(path, join(cache, 'resnet18-abc.pth'));
    cacheHolds('resnet18-abc.pth');
  });

  test('5xx and cut connections are retried with backoff', async () => {
    const path = await fetchWeights(source('flaky.safetensors'), fast());
    assert.ok(readFileSync(path).equals(payload));
    assert.equal(hits.get('/w/flaky.safetensors'), 3);
    cacheHolds('flaky.safetensors');
  });

  test('a truncated download (Content-Length larger than the body) is its own error, and leaves nothing', async () => {
    const e = await expectDownloadError(
      fetchWeights(source('truncated.safetensors'), fast()),
      'E_TRUNCATED',
      /Download of .*truncated\.safetensors is truncated: (the connection broke after \d+ of \d+ bytes|received \d+ of \d+ bytes).*gave up after 3 attempts/,
    );
    assert.match(e.message, new RegExp(`of ${payload.length + 5000} bytes`));
    assert.equal(hits.get('/w/truncated.safetensors'), 3);
    cacheHolds();
  });

  test('a connection cut in a chunked response is an error, and leaves nothing', async () => {
    await expectDownloadError(
      fetchWeights(source('cut.safetensors'), { ...fast(), retries: 0 }),
      'E_TRUNCATED',
      /Download of .*cut\.safetensors is truncated: the connection broke after \d+ bytes \(terminated/,
    );
    cacheHolds();
  });

  test('a wrong hash is its own error, not retried, and leaves nothing', async () => {
    const e = await expectDownloadError(fetchWeights(source('wrong.safetensors'), fast()), 'E_CHECKSUM', new RegExp(`has sha256 [0-9a-f]{64}, expected ${sha}`));
    assert.match(e.hint ?? '', /--weights/);
    assert.equal(hits.get('/w/wrong.safetensors'), 1);
    cacheHolds();
  });

  test('a 404 is its own error, not retried', async () => {
    const e = await expectDownloadError(fetchWeights(source('missing.pth'), fast()), 'E_HTTP', /Download of .*missing\.pth failed: HTTP 404 Not Found$/);
    assert.match(e.hint ?? '', /URL is wrong/);
    assert.equal(hits.get('/w/missing.pth'), 1);
    cacheHolds();
  });

  test('a persistent 500 gives up after the retries', async () => {
    await expectDownloadError(fetchWeights(source('down.safetensors'), fast()), 'E_HTTP', /HTTP 500 Internal Server Error \(gave up after 3 attempts\)/);
    assert.equal(hits.get('/w/down.safetensors'), 3);
    cacheHolds();
  });

  test('offline (connection refused): the message gives the URL and the exact path', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const url = `http://127.0.0.1:${port}/w/resnet18-f37072fd.pth`;
    const e = await expectDownloadError(fetchWeights({ url, sha256: 'f37072fd' }, fast()), 'E_OFFLINE', /unreachable \(ECONNREFUSED\)/);
    assert.ok(e.message.includes(`fetch ${url} yourself and put it at ${join(cache, 'resnet18-f37072fd.pth')}`), e.message);
    cacheHolds();
  });

  test("offline (DNS failure) is recognised through fetch's cause chain", async () => {
    let calls = 0;
    const fetchImpl = async () => {
      calls++;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND download.pytorch.org'), { code: 'ENOTFOUND' }) });
    };
    const url = 'https://download.pytorch.org/models/resnet18-f37072fd.pth';
    const e = await expectDownloadError(fetchWeights({ url, sha256: 'f37072fd' }, { ...fast(), fetchImpl }), 'E_OFFLINE', /unreachable \(ENOTFOUND\)/);
    assert.ok(e.message.includes(join(cache, 'resnet18-f37072fd.pth')));
    assert.match(e.hint ?? '', /curl -L -o resnet18-f37072fd\.pth/);
    assert.equal(calls, 2, 'offline gets one retry only');
  });

  test('a corrupted cached file is reported, not silently used', async () => {
    writeFileSync(join(cache, 'model.safetensors'), 'not the file');
    await expectDownloadError(fetchWeights(source('model.safetensors'), fast()), 'E_CHECKSUM', /Cached weight file `.*model\.safetensors` has sha256 [0-9a-f]{64}, expected/);
    assert.equal(hits.get('/w/model.safetensors'), undefined);
  });

  test('resolveWeightsFile prefers a local file, and checks it exists', async () => {
    const local = join(cache, 'mine.pth');
    writeFileSync(local, 'x');
    assert.equal(await resolveWeightsFile(local, source('model.safetensors'), fast()), local);
    assert.equal(hits.size, 0);
    await assert.rejects(resolveWeightsFile(join(cache, 'nope.pth'), undefined), (e: unknown) => e instanceof IOError && e.code === 'E_NOT_FOUND' && /`.*nope\.pth` does not exist/.test(e.message));
    mkdirSync(join(cache, 'adir'));
    await assert.rejects(resolveWeightsFile(join(cache, 'adir'), undefined), { code: 'E_READ_FAILED', name: 'IOError', message: /is not a file/ });
    await assert.rejects(resolveWeightsFile(undefined, undefined), { code: 'E_NO_WEIGHTS', message: /No weights: this model has no known weight source/ });
    assert.equal(await resolveWeightsFile(undefined, source('model.safetensors'), fast()), join(cache, 'model.safetensors'));
  });

  test('bad sources and options are rejected up front', async () => {
    await assert.rejects(fetchWeights({ url: 'ftp://x/y.pth', sha256: sha }, fast()), { name: 'ConfigError', code: 'E_BAD_OPTION' });
    await assert.rejects(fetchWeights({ url: `${base}/w/a.pth`, sha256: 'xyz' }, fast()), { code: 'E_BAD_OPTION', message: /sha256: expected 8 to 64 hex digits/ });
    await assert.rejects(fetchWeights({ url: `${base}/w/`, sha256: sha }, fast()), { code: 'E_UNSAFE_WEIGHTS', message: /cannot use `` as a cache file name/ });
    await assert.rejects(fetchWeights(source('model.safetensors'), { ...fast(), retrys: 1 } as never), { code: 'E_BAD_OPTION', message: /Invalid download options/ });
    assert.equal(hits.size, 0);
  });
});

describe('weights: cache folder', () => {
  test('HEADSTART_HOME, then XDG_CACHE_HOME, then ~/.cache', () => {
    assert.equal(weightsCacheDir({ HEADSTART_HOME: '/h', XDG_CACHE_HOME: '/x' }), '/h/weights');
    assert.equal(weightsCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/headstart/weights');
    assert.equal(weightsCacheDir({}), join(homedir(), '.cache', 'headstart', 'weights'));
  });
});
