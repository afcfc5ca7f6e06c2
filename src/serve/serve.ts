/**
 * `headstart serve`: a local web app on hono + @hono/node-server. Pages (src/serve/web/)
 * list runs with their curves and confusion matrix, watch and start training live (the
 * run's events.jsonl tailed over Server-Sent Events), and try a model in the browser with
 * onnxruntime-web (its wasm served from node_modules: offline, nothing uploaded).
 * Security: see access-guard.ts (token, Origin check, CSP) and confined-path.ts (realpath).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import { ConfigError, HeadstartError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { listModels } from '../models/registry.js';
import { DEFAULT_RECIPE, RECIPE_NAMES } from '../train/options.js';
import { EVENTS_FILE } from '../train/listeners/events-file.js';
import { curvesSvg } from '../report/curves.js';
import { HEADSTART_VERSION } from '../version.js';
import { accessGuard, contentSecurityPolicy, isToken, TOKEN_COOKIE } from './access-guard.js';
import { confinedPath } from './confined-path.js';
import { isRunName, listRuns, parseEvents, runHistory, summariseRun } from './run-folders.js';
import { TrainingJobs } from './training-jobs.js';
import { DatasetChanges } from './dataset-changes.js';
import { reviewImages, type ReviewItem } from './review-predictions.js';
import { rankLabelErrors } from './label-error-ranking.js';
import { retrainHead } from './retrain-head.js';
import { datasetFindings } from './dataset-findings.js';

const ServeOptionsSchema = z.strictObject({
  /** Folder of run folders (default `runs`). */
  runs: z.string().min(1).default('runs'),
  /** Dataset root the page may show and start runs on (default: none; the embedded dataset is offered). */
  data: z.string().min(1).optional(),
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port. */
  port: z.int().min(0).max(65535).default(0),
  /** The access token; generated when not given. */
  token: z.string().min(16).optional(),
});
export type ServeOptions = z.input<typeof ServeOptionsSchema>;

export interface ServeHandle {
  /** http://host:port, without the token. */
  origin: string;
  /** The URL to open: origin + `/?token=...`. */
  url: string;
  token: string;
  runsDir: string;
  /** Stops running jobs (checkpoints kept) and closes the server. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/** The package's root folder (the one with headstart's package.json), from src/serve or dist/src/serve. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src', 'serve', 'web'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new HeadstartError('E_INTERNAL', 'headstart serve: cannot find the package root with src/serve/web (a broken install)');
    dir = up;
  }
}

const require = createRequire(import.meta.url);

/** The root folder of an installed npm package, from a file `require.resolve` found in it. */
function packageDir(name: string, resolved: string): string {
  let dir = dirname(resolved);
  while (!existsSync(join(dir, 'package.json')) || !dir.endsWith(name.split('/').at(-1)!)) {
    const up = dirname(dir);
    if (up === dir) throw new HeadstartError('E_NOT_FOUND', `headstart serve: package \`${name}\` is not installed`, { hint: 'run npm ci' });
    dir = up;
  }
  return dir;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.csv': 'text/csv; charset=utf-8',
  '.jsonl': 'application/x-ndjson',
};

function errorStatus(err: unknown): number {
  const code = err instanceof HeadstartError ? err.code : '';
  if (code === 'E_OUTSIDE_ROOT') return 403;
  if (code === 'E_NOT_FOUND') return 404;
  if (code === 'E_DATASET_LOCKED') return 409;
  if (err instanceof ConfigError) return 400;
  return 500;
}

function errorBody(err: unknown): { error: string; message: string; hint?: string } {
  if (err instanceof HeadstartError) return { error: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return { error: 'E_INTERNAL', message: (err as Error).message };
}

/** The path after `prefix` in the request's raw (still encoded) URL, decoded once. */
function rawTail(c: Context, prefix: string): string {
  const pathname = new URL(c.req.url).pathname;
  const tail = pathname.slice(prefix.length);
  try {
    return decodeURIComponent(tail);
  } catch {
    throw new ConfigError('E_OUTSIDE_ROOT', `\`${tail}\` is not a valid encoded path`);
  }
}

async function sendFile(c: Context, root: string, requested: string): Promise<Response> {
  try {
    const path = await confinedPath(root, requested);
    if (!(await stat(path)).isFile()) throw new ConfigError('E_NOT_FOUND', `\`${requested}\` is not a file`);
    const body = await readFile(path);
    const ext = extname(path).toLowerCase();
    // An HTML file from a run or the dataset (report.html) is shown sandboxed: no script, nothing fetched but its own images.
    const headers: Record<string, string> = { 'Content-Type': MIME[ext] ?? 'application/octet-stream' };
    if (ext === '.html' || ext === '.svg') headers['Content-Security-Policy'] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox";
    return c.body(new Uint8Array(body), 200, headers);
  } catch (err) {
    return c.json(errorBody(err), errorStatus(err) as 403);
  }
}

/** The page: one HTML document; the import map is its only inline script (allowed by its hash). */
function pageHtml(): { html: string; scriptHash: string } {
  const importMap = JSON.stringify({
    imports: {
      preact: '/vendor/preact.mjs',
      'preact/hooks': '/vendor/hooks.mjs',
      htm: '/vendor/htm.mjs',
      '@preact/signals': '/vendor/signals.mjs',
      '@preact/signals-core': '/vendor/signals-core.mjs',
    },
  });
  const scriptHash = `sha256-${createHash('sha256').update(importMap).digest('base64')}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>headstart</title>
<link rel="stylesheet" href="/app/style.css">
<script type="importmap">${importMap}</script>
<script type="module" src="/app/app.js"></script>
</head>
<body><div id="app"><p class="loading">Loading headstart…</p></div></body>
</html>
`;
  return { html, scriptHash };
}

export async function startServer(options?: ServeOptions): Promise<ServeHandle> {
  const o = parseOrThrow(ServeOptionsSchema, options ?? {}, 'headstart serve');
  const token = o.token ?? randomBytes(24).toString('base64url');
  const runsDir = resolve(o.runs);
  const dataDir = o.data === undefined ? undefined : resolve(o.data);
  if (dataDir !== undefined && !existsSync(dataDir)) {
    throw new ConfigError('E_NOT_FOUND', `--data \`${o.data}\` does not exist`, { hint: 'pass a dataset folder (root/train/<class>/*, root/val/<class>/*)' });
  }
  const root = packageRoot();
  const webDir = join(root, 'src', 'serve', 'web');
  const coreBundle = join(root, 'dist', 'web');
  const embedded = join(root, 'assets', 'fashion-mnist-mini');
  const vendor: Record<string, string> = {
    'preact.mjs': join(packageDir('preact', require.resolve('preact')), 'dist', 'preact.mjs'),
    'hooks.mjs': join(packageDir('preact', require.resolve('preact')), 'hooks', 'dist', 'hooks.mjs'),
    'htm.mjs': join(packageDir('htm', require.resolve('htm')), 'dist', 'htm.mjs'),
    'signals.mjs': join(packageDir('@preact/signals', require.resolve('@preact/signals')), 'dist', 'signals.mjs'),
    // @preact/signals' own dependency (resolved from there, as the browser's import map does).
    'signals-core.mjs': join(packageDir('@preact/signals-core', createRequire(require.resolve('@preact/signals')).resolve('@preact/signals-core')), 'dist', 'signals-core.mjs'),
  };
  const ortDir = join(packageDir('onnxruntime-web', require.resolve('onnxruntime-web')), 'dist');
  const { html, scriptHash } = pageHtml();
  const jobs = new TrainingJobs(runsDir);
  let origins: string[] = [];

  const app = new Hono();
  app.onError((err, c) => c.json(errorBody(err), errorStatus(err) as 400));
  app.use('*', accessGuard({ token, origins: () => origins, csp: contentSecurityPolicy([scriptHash]), open: ['/', '/favicon.ico'] }));

  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/', (c) => {
    const given = c.req.query('token');
    if (given !== undefined) {
      if (!isToken(given, token)) return c.text('wrong access token: open the URL that `headstart serve` printed', 401);
      setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
      return c.redirect('/', 303);
    }
    const cookie = c.req.header('cookie') ?? '';
    const has = cookie.split(/;\s*/).some((kv) => kv.startsWith(`${TOKEN_COOKIE}=`) && isToken(decodeURIComponent(kv.slice(TOKEN_COOKIE.length + 1)), token));
    if (!has) return c.text('missing access token: open the URL that `headstart serve` printed (it ends in ?token=...)', 401);
    return c.html(html);
  });
  app.get('/app/*', (c) => sendFile(c, webDir, rawTail(c, '/app/')));
  app.get('/core/*', (c) => sendFile(c, coreBundle, rawTail(c, '/core/')));
  app.get('/ort/*', (c) => sendFile(c, ortDir, rawTail(c, '/ort/')));
  app.get('/vendor/:file', async (c) => {
    const path = vendor[c.req.param('file')];
    if (!path) return c.json({ error: 'E_NOT_FOUND', message: 'no such vendor file' }, 404);
    return c.body(new Uint8Array(await readFile(path)), 200, { 'Content-Type': MIME['.mjs'] });
  });
  app.get('/files/runs/*', (c) => sendFile(c, runsDir, rawTail(c, '/files/runs/')));
  app.get('/files/data/*', (c) => {
    if (!dataDir) return c.json({ error: 'E_NOT_FOUND', message: 'no dataset is served (start with --data DIR)' }, 404);
    return sendFile(c, dataDir, rawTail(c, '/files/data/'));
  });

  app.get('/api/info', (c) =>
    c.json({
      version: HEADSTART_VERSION,
      runsDir,
      dataDir: dataDir ?? null,
      defaultData: dataDir ?? embedded,
      models: listModels().map((m) => m.name),
      recipes: RECIPE_NAMES,
      defaultRecipe: DEFAULT_RECIPE,
    }),
  );
  app.get('/api/runs', async (c) => c.json(await listRuns(runsDir, (n) => jobs.isRunning(n))));
  const runName = (c: Context): string => {
    const name = c.req.param('name') ?? '';
    if (!isRunName(name)) throw new ConfigError('E_OUTSIDE_ROOT', `\`${name}\` is not a run folder name`);
    return name;
  };
  const runDir = async (c: Context): Promise<string> => confinedPath(runsDir, runName(c));
  app.get('/api/runs/:name', async (c) => {
    const dir = await runDir(c);
    const name = runName(c);
    const job = jobs.get(name);
    return c.json({ ...(await summariseRun(runsDir, name, jobs.isRunning(name))), history: (await runHistory(dir)).epochs, job: job ? { state: job.state, error: job.error ?? null } : null });
  });
  app.get('/api/runs/:name/curves.svg', async (c) => {
    // A run started from the page has no folder until its data and weights are loaded.
    const starting = jobs.isRunning(runName(c)) && !existsSync(join(runsDir, runName(c)));
    const history = starting ? { epochs: [] } : await runHistory(await runDir(c));
    if (history.epochs.length === 0)
      return c.body('<svg xmlns="http://www.w3.org/2000/svg" width="480" height="60"><text x="10" y="30" font-family="sans-serif" font-size="14">no finished epoch yet</text></svg>', 200, {
        'Content-Type': MIME['.svg'],
      });
    return c.body(curvesSvg(history, { title: runName(c) }), 200, { 'Content-Type': MIME['.svg'] });
  });
  app.get('/api/runs/:name/events', async (c) => {
    const name = runName(c);
    const path = join(runsDir, name, EVENTS_FILE);
    return streamSSE(c, async (stream) => {
      let offset = 0;
      let rest = '';
      let closed = false;
      stream.onAbort(() => {
        closed = true;
      });
      while (!closed) {
        let got = false;
        if (existsSync(path)) {
          const real = await confinedPath(runsDir, join(name, EVENTS_FILE));
          const fh = await open(real, 'r');
          try {
            const { size } = await fh.stat();
            if (size > offset) {
              const buf = Buffer.alloc(size - offset);
              await fh.read(buf, 0, buf.length, offset);
              offset = size;
              const text = rest + buf.toString('utf8');
              const cut = text.lastIndexOf('\n');
              rest = text.slice(cut + 1);
              for (const e of parseEvents(text.slice(0, cut + 1))) {
                await stream.writeSSE({ event: 'train', data: JSON.stringify(e) });
                got = true;
              }
            }
          } finally {
            await fh.close();
          }
        }
        const job = jobs.get(name);
        if (job && job.state !== 'running' && !got) {
          await stream.writeSSE({ event: 'job', data: JSON.stringify({ state: job.state, error: job.error ?? null }) });
          break;
        }
        await stream.sleep(200);
      }
    });
  });
  app.post('/api/runs', async (c) => {
    const body = (await c.req.json().catch(() => null)) as unknown;
    const job = jobs.start(body);
    return c.json({ name: job.name }, 202);
  });
  app.post('/api/runs/:name/stop', (c) => {
    const job = jobs.get(runName(c));
    if (!job) return c.json({ error: 'E_NOT_FOUND', message: `no run \`${runName(c)}\` was started from this page` }, 404);
    job.stop();
    return c.json({ state: job.state });
  });

  // Review the data: the dataset's images (ranked by a run's model), relabel / remove / mark fine, undo.
  let changes: Promise<DatasetChanges> | undefined;
  const dataset = (): Promise<DatasetChanges> => {
    if (!dataDir) throw new ConfigError('E_NOT_FOUND', 'no dataset is served', { hint: 'start headstart serve with --data DIR to review a dataset' });
    return (changes ??= DatasetChanges.open(dataDir));
  };
  const PathBody = z.strictObject({ path: z.string().min(1) });
  const RelabelBody = z.strictObject({ path: z.string().min(1), to: z.string().min(1) });
  const UndoBody = z.strictObject({ id: z.string().min(1).optional() });
  const bodyOf = async <T>(c: Context, schema: z.ZodType<T>, what: string): Promise<T> => parseOrThrow(schema, await c.req.json().catch(() => null), what);
  const checkedRun = (run: string) => {
    if (!isRunName(run)) throw new ConfigError('E_OUTSIDE_ROOT', `\`${run}\` is not a run folder name`);
    return run;
  };
  // ?run=NAME ranks the images: rank=loss by the run's model (top losses), rank=label-errors (the default
  // when the run has cached features) by out-of-fold predictions on its cached features.
  // Recent rankings, kept while the dataset's images, the moves not undone and the run are the same (switching
  // views, another tab, and back to the same state after an undo): each is seconds of CPU.
  const rankings = new Map<string, ReturnType<typeof rankLabelErrors>>();
  app.get('/api/data', async (c) => {
    const d = await dataset();
    const run = c.req.query('run');
    const rank = c.req.query('rank');
    let noOutOfFold: string | undefined;
    if (run && rank !== 'loss') {
      const dir = await confinedPath(runsDir, checkedRun(run));
      const log = await d.log();
      const all = await reviewImages(d.root);
      try {
        const undone = new Set(log.filter((x) => x.op === 'undo').map((x) => x.undoes));
        const key = createHash('sha256')
          .update(`${dir}\n${(await stat(join(dir, 'config.json')).catch(() => undefined))?.mtimeMs ?? ''}\n`)
          .update(`${log.filter((x) => (x.op === 'relabel' || x.op === 'remove') && !undone.has(x.id)).map((x) => x.id)}\n`)
          .update(all.items.map((x) => x.path).join('\n'))
          .digest('hex');
        let pending = rankings.get(key);
        if (!pending) {
          pending = rankLabelErrors(dir, run, d.root, log);
          rankings.set(key, pending);
          if (rankings.size > 4) rankings.delete(rankings.keys().next().value!);
        }
        const ranking = await pending.catch((err: unknown) => {
          rankings.delete(key);
          throw err;
        });
        const byPath = new Map(all.items.map((x) => [x.path, x]));
        const items: (ReviewItem & { suggested?: string; pSuggested?: number; margin?: number })[] = ranking.items.map((r) => ({
          ...byPath.get(r.path)!,
          predicted: r.pSuggested > r.selfConfidence ? r.suggested : r.label,
          pPredicted: Math.max(r.pSuggested, r.selfConfidence),
          pLabel: r.selfConfidence,
          loss: -Math.log(Math.max(r.selfConfidence, 1e-12)),
          likelyLabelError: r.flagged,
          suggested: r.suggested,
          pSuggested: r.pSuggested,
          margin: r.margin,
        }));
        const ranked = new Set(items.map((x) => x.path));
        items.push(...all.items.filter((x) => !ranked.has(x.path)));
        const about = { source: ranking.source, description: ranking.description, folds: ranking.folds, seconds: ranking.seconds, uncached: ranking.uncached.length };
        return c.json({ root: d.root, classes: all.classes, items, ranking: about, changes: log });
      } catch (err) {
        // A run without cached features (fine-tuned): its own predictions rank the images, and the page says so.
        if (rank === 'label-errors' || !(err instanceof HeadstartError) || err.code !== 'E_NOT_FOUND') throw err;
        noOutOfFold = err.message;
      }
    }
    const model = run ? await confinedPath(runsDir, `${checkedRun(run)}/model.onnx`) : undefined;
    const ranking = run
      ? {
          source: 'model',
          description: `${run}'s own model.onnx on every image (top losses; its predictions on its own training images are optimistic)${noOutOfFold ? `; no out-of-fold ranking: ${noOutOfFold}` : ''}`,
        }
      : { source: 'none', description: 'folder order' };
    return c.json({ root: d.root, ...(await reviewImages(d.root, model)), ranking, changes: await d.log() });
  });
  app.get('/api/data/findings', async (c) => {
    const d = await dataset();
    return c.json(await datasetFindings(d.root, await d.log()));
  });
  const RetrainBody = z.strictObject({ run: z.string().min(1) });
  app.post('/api/data/retrain-head', async (c) => {
    const run = checkedRun((await bodyOf(c, RetrainBody, 'retrain head')).run);
    const d = await dataset();
    const dir = await confinedPath(runsDir, run);
    const summary = await summariseRun(runsDir, run, jobs.isRunning(run));
    return c.json(await retrainHead(dir, run, d.root, await d.log(), summary.bestValAcc));
  });
  const FindingFineBody = z.strictObject({ about: z.enum(['duplicate', 'leak']), paths: z.array(z.string().min(1)).min(1).max(1000) });
  app.post('/api/data/fine-finding', async (c) => {
    const b = await bodyOf(c, FindingFineBody, 'mark a finding as fine');
    return c.json(await (await dataset()).markFindingFine(b.about, b.paths));
  });
  app.get('/api/data/changes', async (c) => c.json(await (await dataset()).log()));
  app.post('/api/data/relabel', async (c) => {
    const b = await bodyOf(c, RelabelBody, 'relabel');
    return c.json(await (await dataset()).relabel(b.path, b.to));
  });
  app.post('/api/data/remove', async (c) => c.json(await (await dataset()).remove((await bodyOf(c, PathBody, 'remove')).path)));
  app.post('/api/data/fine', async (c) => c.json(await (await dataset()).markFine((await bodyOf(c, PathBody, 'mark as fine')).path)));
  app.post('/api/data/undo', async (c) => c.json(await (await dataset()).undo((await bodyOf(c, UndoBody, 'undo')).id)));
  app.post('/api/data/undo-all', async (c) => c.json(await (await dataset()).undoAll()));

  const server = serve({ fetch: app.fetch, hostname: o.host, port: o.port });
  await new Promise<void>((ok, fail) => {
    server.once('listening', ok);
    server.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        new ConfigError('E_BAD_OPTION', `cannot listen on ${o.host}:${o.port}: ${err.message}`, {
          hint: err.code === 'EADDRINUSE' ? 'pick another --port, or 0 for a free one' : 'check --host',
          cause: err,
        }),
      ),
    );
  });
  const port = (server.address() as AddressInfo).port;
  const hostForUrl = o.host.includes(':') ? `[${o.host}]` : o.host;
  const origin = `http://${hostForUrl}:${port}`;
  origins = [origin, `http://localhost:${port}`, `http://127.0.0.1:${port}`];
  return {
    origin,
    url: `${origin}/?token=${token}`,
    token,
    runsDir,
    async close() {
      await jobs.stopAll();
      await new Promise<void>((ok) => {
        server.close(() => ok());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
