/**
 * `headstart serve` end to end: the security model answered by a real server on a free port
 * (token, Origin check, CSP, realpath confinement against traversal, absolute paths and
 * symlinks), then the pages in Debian's Chromium through playwright-core: the runs list and
 * one run, "try it" (the model runs in the browser; its top-1 equals `headstart predict`),
 * and a features run started from the page whose epochs arrive live and whose accuracy
 * equals the CLI's for the same seed; Stop keeps the checkpoint.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildWeb } from '../scripts/build-web.js';
import { main } from '../src/cli/main.js';
import { predict } from '../src/infer/predict.js';
import { startServer, type ServeHandle } from '../src/serve/serve.js';
import { DatasetChanges } from '../src/serve/dataset-changes.js';
import { runFeatures } from '../src/serve/run-features.js';

const EMBEDDED = fileURLToPath(new URL('../assets/fashion-mnist-mini', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium)`;
/** The CLI and the page train the same run: 32 px crops of the embedded dataset, 2 epochs, seed 3. */
const RUN_FLAGS = { model: 'mobilenet_v2_offline', mode: 'features', epochs: 2, seed: 3, inputSize: 32 } as const;

let tmp: string;
let runs: string;
/** A copy of the embedded dataset the review page may change (and the CLI run trains on). */
let data: string;
/** Deliberate label errors in `data`: trousers filed under train/bag. */
let flipped: string[];
/** A training image copied into val: a leak for the doctor. */
let leak: { train: string; val: string };
let server: ServeHandle;
let cli: { best: number; valAccs: number[] };
let browser: Browser | undefined;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'headstart-serve-'));
  runs = join(tmp, 'runs');
  mkdirSync(runs);
  data = join(tmp, 'data');
  cpSync(EMBEDDED, data, { recursive: true });
  flipped = readdirSync(join(data, 'train', 'trouser'))
    .sort()
    .slice(0, 4)
    .map((f) => {
      renameSync(join(data, 'train', 'trouser', f), join(data, 'train', 'bag', f));
      return `train/bag/${f}`;
    });
  leak = { train: `train/sneaker/${readdirSync(join(data, 'train', 'sneaker')).sort()[5]}`, val: 'val/sneaker/copied-from-train.png' };
  copyFileSync(join(data, leak.train), join(data, leak.val));
  await buildWeb();
  const lines: string[] = [];
  const io = { out: (t: string) => void lines.push(...t.split('\n').filter(Boolean)), err: () => {}, tty: false };
  const code = await main(
    [
      'train',
      data,
      '--model',
      RUN_FLAGS.model,
      '--mode',
      RUN_FLAGS.mode,
      '--epochs',
      String(RUN_FLAGS.epochs),
      '--seed',
      String(RUN_FLAGS.seed),
      '--input-size',
      String(RUN_FLAGS.inputSize),
      '--out',
      join(runs, 'cli-run'),
      '--json',
    ],
    io,
  );
  assert.equal(code, 0, lines.join('\n'));
  const events = lines.map((l) => JSON.parse(l) as Record<string, number | string>);
  cli = { best: events.find((e) => e.event === 'done')!.best_val_acc as number, valAccs: events.filter((e) => e.event === 'epoch').map((e) => e.val_acc as number) };
  server = await startServer({ runs, data });
  if (!noBrowser) browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const auth = () => ({ authorization: `Bearer ${server.token}` });

test('the trainer appends its events to events.jsonl in the run folder', () => {
  const lines = readFileSync(join(runs, 'cli-run', 'events.jsonl'), 'utf8')
    .trim()
    .split('\n');
  const events = lines.map((l) => (JSON.parse(l) as { event: string }).event);
  assert.equal(events[0], 'run_start');
  assert.equal(events.at(-1), 'done');
  assert.equal(events.filter((e) => e === 'epoch').length, RUN_FLAGS.epochs);
  assert.ok(events.includes('batch_end'), 'batch progress for the progress bar');
});

test('every request needs the token: missing or wrong → 401', async () => {
  for (const path of ['/api/runs', '/api/info', '/files/runs/cli-run/model.onnx', '/app/app.js', '/ort/ort.wasm.min.mjs', '/']) {
    const none = await fetch(server.origin + path);
    assert.equal(none.status, 401, `${path} without a token`);
    const wrong = await fetch(server.origin + path, { headers: { authorization: `Bearer ${'x'.repeat(server.token.length)}` } });
    assert.equal(wrong.status, 401, `${path} with a wrong token`);
  }
  assert.equal((await fetch(`${server.origin}/?token=wrong`)).status, 401);
  const ok = await fetch(server.url, { redirect: 'manual' });
  assert.equal(ok.status, 303);
  assert.match(ok.headers.get('set-cookie') ?? '', /HttpOnly/i);
  assert.match(ok.headers.get('set-cookie') ?? '', /SameSite=Strict/i);
  const runsList = (await (await fetch(`${server.origin}/api/runs`, { headers: auth() })).json()) as { name: string }[];
  assert.deepEqual(
    runsList.map((r) => r.name),
    ['cli-run'],
  );
});

test('the page carries a CSP that allows only its own origin', async () => {
  const cookie = (await fetch(server.url, { redirect: 'manual' })).headers.get('set-cookie')!.split(';')[0];
  const page = await fetch(`${server.origin}/`, { headers: { cookie } });
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'self'/);
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-[A-Za-z0-9+/=]+'/);
  assert.doesNotMatch(csp, /unsafe-inline|\*/);
});

test('files are served only from inside the runs and dataset folders (traversal, absolute, symlink out → 403/404, nothing read)', async () => {
  const secretDir = join(tmp, 'outside');
  mkdirSync(secretDir);
  writeFileSync(join(secretDir, 'secret.txt'), 'TOP-SECRET-CONTENT');
  symlinkSync(join(secretDir, 'secret.txt'), join(runs, 'cli-run', 'leak.txt'));
  symlinkSync(secretDir, join(runs, 'linked-dir'));
  const attacks = [
    '/files/runs/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd',
    '/files/runs/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    '/files/runs/..%5c..%5cetc%5cpasswd',
    '/files/runs/%2fetc%2fpasswd',
    `/files/runs/${encodeURIComponent(join(secretDir, 'secret.txt'))}`,
    '/files/runs/cli-run/leak.txt',
    '/files/runs/linked-dir/secret.txt',
    '/files/runs/cli-run/%00model.onnx',
    '/files/data/..%2f..%2f..%2fpackage.json',
    '/files/data/%2fetc%2fpasswd',
    '/api/runs/..%2f..%2f..%2fetc',
    '/api/runs/linked-dir/curves.svg',
  ];
  for (const path of attacks) {
    const r = await fetch(server.origin + path, { headers: auth() });
    const body = await r.text();
    assert.ok([403, 404].includes(r.status), `${path}: status ${r.status}`);
    assert.doesNotMatch(body, /TOP-SECRET|root:x:0|"name": "headstart"/, `${path} leaked content`);
  }
  // The same files inside the roots are served.
  assert.equal((await fetch(`${server.origin}/files/runs/cli-run/classes.json`, { headers: auth() })).status, 200);
  assert.equal((await fetch(`${server.origin}/files/data/README.md`, { headers: auth() })).status, 200);
});

test('state changes only by POST from the page’s own origin', async () => {
  const body = JSON.stringify({ data: EMBEDDED, epochs: 1 });
  const headers = { ...auth(), 'content-type': 'application/json' };
  const before = readdirSync(runs).sort();
  const evil = await fetch(`${server.origin}/api/runs`, { method: 'POST', headers: { ...headers, origin: 'http://evil.example' }, body });
  assert.equal(evil.status, 403);
  assert.equal(((await evil.json()) as { error: string }).error, 'E_BAD_ORIGIN');
  const none = await fetch(`${server.origin}/api/runs`, { method: 'POST', headers, body });
  assert.equal(none.status, 403);
  const noToken = await fetch(`${server.origin}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json', origin: server.origin }, body });
  assert.equal(noToken.status, 401);
  const put = await fetch(`${server.origin}/api/runs`, { method: 'PUT', headers: { ...headers, origin: server.origin }, body });
  assert.equal(put.status, 405);
  // The guard lets the page's own origin through: a bad body is then refused by validation, not by the guard.
  const bad = await fetch(`${server.origin}/api/runs`, { method: 'POST', headers: { ...headers, origin: server.origin }, body: JSON.stringify({ epochs: 'many' }) });
  assert.equal(bad.status, 400);
  assert.deepEqual(readdirSync(runs).sort(), before, 'no run was started');
});

async function openPage(hash: string): Promise<Page> {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(server.url);
  await page.goto(`${server.origin}/#${hash}`);
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}
const pageErrors = (p: Page) => (p as Page & { errors: string[] }).errors;

test('runs page: the list, one run with its curves and confusion matrix', { skip: noBrowser }, async () => {
  const page = await openPage('/runs');
  await page.waitForSelector('tr[data-run="cli-run"]');
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-runs.png'), fullPage: true });
  await page.click('tr[data-run="cli-run"] a');
  await page.waitForSelector('.best-acc');
  assert.equal(Number(await page.getAttribute('.best-acc', 'data-value')), cli.best);
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('img.curves, img.confusion')].every((i) => i.complete && i.naturalWidth > 0));
  assert.equal(await page.locator('img.confusion').count(), 1);
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-run.png'), fullPage: true });
  assert.deepEqual(pageErrors(page), []);
  await page.close();
});

test('try it: a picked image’s top-1 label and probability equal `headstart predict` within 1e-4', { skip: noBrowser }, async () => {
  const files = ['bag', 'sneaker', 'trouser', 'tshirt'].map((c) => {
    const dir = join(EMBEDDED, 'val', c);
    return join(dir, readdirSync(dir).sort()[3]);
  });
  const expected = await predict(join(runs, 'cli-run', 'model.onnx'), files);
  const page = await openPage('/try/cli-run');
  await page.waitForSelector('.model-info', { timeout: 60_000 });
  assert.equal(await page.getAttribute('.model-info', 'data-classes'), expected.classes.join(','));
  await page.setInputFiles('input.images', files);
  await page.waitForFunction((n) => document.querySelectorAll('.result[data-label]').length === n, files.length, { timeout: 60_000 });
  const got = await page.$$eval('.result[data-label]', (els) =>
    els.map((e) => ({ name: e.getAttribute('data-name'), label: e.getAttribute('data-label'), prob: Number(e.getAttribute('data-prob')) })),
  );
  for (const p of expected.predictions) {
    const name = p.path.split('/').at(-1);
    const g = got.find((x) => x.name === name);
    assert.ok(g, `${name} shown`);
    assert.equal(g.label, p.top[0].label, `${name} top-1 label`);
    assert.ok(Math.abs(g.prob - p.top[0].probability) <= 1e-4, `${name}: browser ${g.prob} vs predict ${p.top[0].probability}`);
  }
  // WebGPU where the browser offers an adapter, else wasm; the page names the one it used.
  const gpu = await page.evaluate(async () =>
    Boolean((navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu && (await (navigator as unknown as { gpu: { requestAdapter(): Promise<unknown> } }).gpu.requestAdapter())),
  );
  const backend = await page.textContent('.backend');
  assert.ok(gpu ? ['WebGPU', 'WebAssembly'].includes(backend ?? '') : backend === 'WebAssembly', `backend shown: ${backend} (adapter: ${gpu})`);
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-try.png'), fullPage: true });
  assert.deepEqual(pageErrors(page), []);
  await page.close();
});

test('live training: a features run started from the page shows its epochs live and ends with the CLI’s accuracy; Stop keeps the checkpoint', { skip: noBrowser }, async () => {
  const page = await openPage('/train');
  await page.waitForSelector('form.train');
  await page.fill('input[name=data]', data);
  await page.selectOption('select[name=model]', RUN_FLAGS.model);
  await page.selectOption('select[name=mode]', RUN_FLAGS.mode);
  await page.fill('input[name=epochs]', String(RUN_FLAGS.epochs));
  await page.fill('input[name=seed]', String(RUN_FLAGS.seed));
  await page.fill('input[name=inputSize]', String(RUN_FLAGS.inputSize));
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-train.png'), fullPage: true });
  await page.click('form.train button[type=submit]');
  await page.waitForSelector('section.live');
  // Epoch rows arrive one by one over SSE, before the run is done.
  await page.waitForSelector('tr.epoch-row[data-epoch="1"]', { timeout: 120_000 });
  await page.waitForSelector('p.done', { timeout: 120_000 });
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-live.png'), fullPage: true });
  const valAccs = await page.$$eval('tr.epoch-row td.val-acc', (els) => els.map((e) => Number(e.getAttribute('data-value'))));
  assert.deepEqual(valAccs, cli.valAccs);
  assert.equal(Number(await page.getAttribute('p.done', 'data-best')), cli.best);
  const name = (await page.getAttribute('section.live', 'data-run'))!;
  assert.ok(existsSync(join(runs, name, 'model.onnx')));

  // A long run, stopped after its first epoch: interrupted cleanly, the checkpoint is on disk.
  await page.goto(`${server.origin}/#/train`);
  await page.waitForSelector('form.train');
  await page.fill('input[name=epochs]', '200');
  await page.fill('input[name=inputSize]', String(RUN_FLAGS.inputSize));
  await page.click('form.train button[type=submit]');
  await page.waitForSelector('tr.epoch-row[data-epoch="1"]', { timeout: 120_000 });
  await page.click('button.stop');
  await page.waitForSelector('p.interrupted', { timeout: 120_000 });
  const stopped = (await page.getAttribute('section.live', 'data-run'))!;
  assert.ok(existsSync(join(runs, stopped, 'checkpoint.bin')), 'checkpoint kept');
  assert.ok(!existsSync(join(runs, stopped, 'model.onnx')), 'a stopped run writes no final model');
  assert.match((await page.textContent('p.interrupted')) ?? '', /--resume/);
  assert.deepEqual(pageErrors(page), []);
  await page.close();
});

/** sha256 over every file's relative path and bytes (the log, lock and trash excluded), and the list of folders. */
function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.headstart-')) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        h.update(`dir ${r}\n`);
        walk(join(dir, e.name), r);
      } else
        h.update(
          `file ${r} ${createHash('sha256')
            .update(readFileSync(join(dir, e.name)))
            .digest('hex')}\n`,
        );
    }
  };
  walk(root, '');
  return h.digest('hex');
}

test('review: relabel, remove, mark fine, undo and undo-all leave the dataset exactly as it was; the log lists every change', { skip: noBrowser }, async () => {
  const original = treeHash(data);
  const page = await openPage('/review/cli-run');
  await page.waitForSelector('.card[data-path]', { timeout: 60_000 });
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.card img')].every((i) => i.complete && i.naturalWidth > 0));
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-review.png'), fullPage: true });
  // Ranked by loss: the first card has the highest loss, so the model disagrees with its label.
  const cards = await page.$$eval('.card[data-path]', (els) => els.slice(0, 3).map((e) => e.getAttribute('data-path')!));
  const [a, b, c] = cards;
  const aClass = a.split('/')[1];
  const to = ['bag', 'sneaker', 'trouser', 'tshirt'].find((x) => x !== aClass)!;
  await page.selectOption(`.card[data-path="${a}"] select.relabel`, to);
  await page.waitForSelector(`.change-log li.relabel`);
  assert.ok(!existsSync(join(data, a)));
  assert.ok(existsSync(join(data, a.split('/')[0], to, a.split('/')[2])), 'moved to the new class folder');
  await page.click(`.card[data-path="${b}"] button.remove`);
  await page.waitForSelector(`.change-log li.remove`);
  assert.ok(existsSync(join(data, '.headstart-trash', b)), 'removed = moved to the trash');
  await page.click(`.card[data-path="${c}"] button.fine`);
  await page.waitForSelector(`.change-log li.fine`);
  assert.notEqual(treeHash(data), original);
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-review-changed.png'), fullPage: true });
  // Undo the relabel alone, then everything else at once.
  await page.click('.change-log li.relabel button.undo');
  await page.waitForSelector('.change-log li.relabel.undone');
  assert.ok(existsSync(join(data, a)), 'relabel undone');
  await page.click('button.undo-all');
  await page.waitForSelector('.change-log li.remove.undone');
  assert.equal(treeHash(data), original, 'the dataset is exactly as it was');
  assert.ok(!existsSync(join(data, '.headstart-trash')), 'the emptied trash folder is gone');
  const log = readFileSync(join(data, '.headstart-changes.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { op: string; from?: string });
  assert.deepEqual(
    log.map((x) => x.op),
    ['relabel', 'remove', 'fine', 'undo', 'undo'],
  );
  assert.deepEqual(
    log.slice(0, 3).map((x) => x.from),
    [a, b, c],
  );
  assert.equal(await page.locator('.change-log li').count(), 5);
  assert.deepEqual(pageErrors(page), []);
  await page.close();
});

test('review API: a relabel out of the root, a traversal, a missing class and a held lock are refused; nothing moves', async () => {
  const original = treeHash(data);
  const post = (path: string, body: unknown) =>
    fetch(server.origin + path, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: server.origin }, body: JSON.stringify(body) });
  const img = `train/bag/${readdirSync(join(data, 'train', 'bag')).sort()[0]}`;
  const cases: [string, unknown, number, string][] = [
    ['/api/data/relabel', { path: img, to: '../../outside' }, 403, 'E_OUTSIDE_ROOT'],
    ['/api/data/relabel', { path: img, to: '..' }, 403, 'E_OUTSIDE_ROOT'],
    ['/api/data/relabel', { path: img, to: '/tmp' }, 403, 'E_OUTSIDE_ROOT'],
    ['/api/data/relabel', { path: img, to: 'no-such-class' }, 400, 'E_BAD_ARGUMENT'],
    ['/api/data/relabel', { path: '../../etc/passwd', to: 'sneaker' }, 403, 'E_OUTSIDE_ROOT'],
    ['/api/data/remove', { path: '/etc/passwd' }, 403, 'E_OUTSIDE_ROOT'],
    ['/api/data/remove', { path: 'train/bag/none.png' }, 404, 'E_NOT_FOUND'],
    ['/api/data/remove', { path: '.headstart-changes.jsonl' }, 403, 'E_OUTSIDE_ROOT'],
  ];
  for (const [path, body, status, code] of cases) {
    const r = await post(path, body);
    assert.equal(r.status, status, `${path} ${JSON.stringify(body)}`);
    assert.equal(((await r.json()) as { error: string }).error, code);
  }
  // Another server on the same dataset (a live process) holds the lock: refused, and the message says so.
  const lockPath = join(data, '.headstart-changes.lock');
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    writeFileSync(lockPath, `${holder.pid} ${new Date().toISOString()}\n`);
    const locked = await post('/api/data/remove', { path: img });
    assert.equal(locked.status, 409);
    assert.equal(((await locked.json()) as { error: string }).error, 'E_DATASET_LOCKED');
    assert.ok(existsSync(lockPath), 'a live lock is left alone');
  } finally {
    holder.kill();
  }
  rmSync(lockPath);
  assert.equal(treeHash(data), original, 'nothing moved');
});

test('a stale lock (its process gone, or untouched for 10 minutes) is recovered with a note; the change goes through', async () => {
  const original = treeHash(data);
  const post = (path: string, body: unknown) =>
    fetch(server.origin + path, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: server.origin }, body: JSON.stringify(body) });
  const lockPath = join(data, '.headstart-changes.lock');
  const img = `train/bag/${readdirSync(join(data, 'train', 'bag')).sort()[1]}`;
  // A process that has exited.
  const dead = spawn('true', { stdio: 'ignore' });
  await new Promise((ok) => dead.once('exit', ok));
  writeFileSync(lockPath, `${dead.pid} ${new Date().toISOString()}\n`);
  const r1 = await post('/api/data/remove', { path: img });
  assert.equal(r1.status, 200);
  const c1 = (await r1.json()) as { op: string; note?: string };
  assert.equal(c1.op, 'remove');
  assert.match(c1.note ?? '', new RegExp(`stale lock.*process ${dead.pid} is not running`));
  assert.ok(!existsSync(lockPath), 'the lock is released after the change');
  // A live pid, but the lock file untouched for an hour (no heartbeat): stale too.
  const holder = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    writeFileSync(lockPath, `${holder.pid} ${new Date(Date.now() - 3600_000).toISOString()}\n`);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(lockPath, old, old);
    const r2 = await post('/api/data/undo', {});
    assert.equal(r2.status, 200);
    assert.match(((await r2.json()) as { note?: string }).note ?? '', /stale lock.*60 minutes old/);
  } finally {
    holder.kill();
  }
  assert.equal(treeHash(data), original, 'removed and undone');
});

test('dataset changes: a name clash gets a suffix, never an overwrite; undo refuses when the old name is taken again', async () => {
  const root = join(tmp, 'clash');
  for (const cls of ['a', 'b']) mkdirSync(join(root, 'train', cls), { recursive: true });
  writeFileSync(join(root, 'train', 'a', 'x.png'), 'A');
  writeFileSync(join(root, 'train', 'b', 'x.png'), 'B');
  const changes = await DatasetChanges.open(root);
  const moved = await changes.relabel('train/a/x.png', 'b');
  assert.equal(moved.to, 'train/b/x-1.png');
  assert.equal(readFileSync(join(root, 'train', 'b', 'x.png'), 'utf8'), 'B', 'the file already there is untouched');
  assert.equal(readFileSync(join(root, 'train', 'b', 'x-1.png'), 'utf8'), 'A');
  writeFileSync(join(root, 'train', 'a', 'x.png'), 'NEW');
  await assert.rejects(changes.undo(), (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT');
  assert.equal(readFileSync(join(root, 'train', 'a', 'x.png'), 'utf8'), 'NEW');
  rmSync(join(root, 'train', 'a', 'x.png'));
  await changes.undo();
  assert.equal(readFileSync(join(root, 'train', 'a', 'x.png'), 'utf8'), 'A');
});

interface RankedData {
  items: { path: string; likelyLabelError: boolean; suggested?: string; pLabel: number | null }[];
  ranking: { source: string; description: string; folds?: number };
}

test('likely label errors come from out-of-fold predictions on the run’s cached features: the deliberately misfiled images rank at the top', async () => {
  const r = await fetch(`${server.origin}/api/data?run=cli-run`, { headers: auth() });
  assert.equal(r.status, 200);
  const d = (await r.json()) as RankedData;
  assert.equal(d.ranking.source, 'out-of-fold');
  assert.equal(d.ranking.folds, 5);
  assert.match(d.ranking.description, /cached features/);
  // 32 px features of Fashion-MNIST are weak (the run's val accuracy is below 90%), so genuine confusions rank high
  // too: every misfiled trouser must rank in the top 10% (chance: 0.1^4), suggested as a trouser, and most flagged.
  const ranks = flipped.map((p) => d.items.findIndex((x) => x.path === p));
  for (const [i, p] of flipped.entries()) {
    assert.ok(ranks[i] >= 0 && ranks[i] < d.items.length * 0.1, `${p} ranks ${ranks[i]} of ${d.items.length}`);
    assert.equal(d.items[ranks[i]].suggested, 'trouser', `${p}: suggested class`);
  }
  assert.ok(flipped.filter((p) => d.items.find((x) => x.path === p)!.likelyLabelError).length >= 2, 'flagged');
  // The cached features follow an image through the change log: relabelled, it keeps its row under its new class.
  const changes = await DatasetChanges.open(data);
  const moved = await changes.relabel(flipped[0], 'trouser');
  const f = await runFeatures(join(runs, 'cli-run'), changes.root, await changes.log());
  const row = f.rows.find((x) => x.path === moved.to)!;
  assert.ok(row, `${moved.to} has its cached features`);
  assert.equal(f.classes[row.label], 'trouser');
  assert.equal(f.classes[row.cachedLabel], 'bag');
  assert.ok(!f.rows.some((x) => x.path === flipped[0]));
  assert.equal(f.rows.length + f.uncached.length, d.items.length);
  assert.equal(f.uncached.length, 0);
  await changes.undo(moved.id);
  // Every image of the dataset is listed once (ranked ones first).
  assert.equal(new Set(d.items.map((x) => x.path)).size, d.items.length);
  // rank=loss keeps the run's own predictions (top losses), and says so.
  const byLoss = (await (await fetch(`${server.origin}/api/data?run=cli-run&rank=loss`, { headers: auth() })).json()) as RankedData;
  assert.equal(byLoss.ranking.source, 'model');
});

test('a run folder without events.jsonl (copied, or older) still shows its number of val images', async () => {
  const bare = join(runs, 'copied-run');
  mkdirSync(bare);
  for (const f of ['config.json', 'history.json', 'classes.json']) copyFileSync(join(runs, 'cli-run', f), join(bare, f));
  const start = readFileSync(join(runs, 'cli-run', 'events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event: string; val_images: number })
    .find((e) => e.event === 'run_start')!;
  const summary = (await (await fetch(`${server.origin}/api/runs/copied-run`, { headers: auth() })).json()) as { valImages: number | null; interval: number[] | null };
  assert.equal(summary.valImages, start.val_images);
  assert.ok(summary.interval, 'with its confidence interval');
  rmSync(bare, { recursive: true });
});

test('review: out-of-fold ranking, relabel the suggested class, retrain head shows the run’s and the new accuracy; the doctor’s leak with remove / mark fine', { skip: noBrowser }, async () => {
  const original = treeHash(data);
  const logBefore = readFileSync(join(data, '.headstart-changes.jsonl'), 'utf8').trim().split('\n').length;
  const page = await openPage('/review/cli-run');
  await page.waitForSelector('.card[data-path]', { timeout: 60_000 });
  assert.equal(await page.getAttribute('p.ranking', 'data-source'), 'out-of-fold');
  assert.match(
    (await page.textContent('p.ranking')) ?? '',
    /out-of-fold predictions: 5 linear heads on cli-run’s cached features|out-of-fold predictions: 5 linear heads on cli-run's cached features/,
  );
  // The leak the doctor found, with its two files.
  await page.waitForSelector('.finding.leak', { timeout: 60_000 });
  const leakPaths = await page.$$eval('.finding.leak .finding-image', (els) => els.map((e) => e.getAttribute('data-path')));
  assert.deepEqual(leakPaths.sort(), [leak.train, leak.val].sort());
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLImageElement>('.card img, .finding img')].every((i) => i.complete && i.naturalWidth > 0));
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-review-oof.png'), fullPage: true });
  // Relabel the flagged misfiled trousers with their suggested class.
  const suggested = await page.$$eval('.card.suspect button.relabel-suggested', (els) => els.map((e) => e.closest('.card')!.getAttribute('data-path')!));
  const fixes = suggested.filter((p) => flipped.includes(p));
  assert.ok(fixes.length >= 2, `flagged with a suggestion: ${suggested.join(', ')}`);
  for (const [i, p] of fixes.entries()) {
    await page.click(`.card[data-path="${p}"] button.relabel-suggested`);
    await page.waitForFunction((n) => document.querySelectorAll('.change-log li.relabel:not(.undone)').length === n, i + 1);
    assert.ok(existsSync(join(data, 'train', 'trouser', p.split('/')[2])), `${p} moved to trouser`);
  }
  await page.click('button.retrain-head');
  await page.waitForSelector('table.retrain-result', { timeout: 60_000 });
  const before = Number(await page.getAttribute('table.retrain-result', 'data-before'));
  const afterAcc = Number(await page.getAttribute('table.retrain-result', 'data-after'));
  assert.equal(Number(await page.getAttribute('table.retrain-result', 'data-run-acc')), cli.best);
  for (const v of [before, afterAcc]) assert.ok(v > 0.5 && v <= 1, `accuracy ${v}`);
  assert.match((await page.textContent('td.run-acc')) ?? '', /^\d+\.\d%$/);
  assert.match((await page.textContent('td.before')) ?? '', /^\d+\.\d%$/);
  assert.match((await page.textContent('td.after')) ?? '', /^\d+\.\d%/);
  await page.screenshot({ path: join(tmpdir(), 'headstart-serve-review-retrained.png'), fullPage: true });
  // The leak: remove the val copy (to the trash), undo, then mark the finding fine; it stays settled after a reload.
  await page.click(`.finding.leak .finding-image[data-path="${leak.val}"] button.remove`);
  await page.waitForSelector('.finding.leak', { state: 'detached' });
  assert.ok(existsSync(join(data, '.headstart-trash', leak.val)));
  await page.click('.change-log li.remove:not(.undone) button.undo');
  await page.waitForSelector('.finding.leak', { timeout: 60_000 });
  await page.click('.finding.leak button.fine');
  await page.waitForSelector('.finding.leak', { state: 'detached' });
  const findings = (await (await fetch(`${server.origin}/api/data/findings`, { headers: auth() })).json()) as { findings: { kind: string; fine: string | null }[] };
  assert.ok(findings.findings.find((f) => f.kind === 'leak')?.fine, 'the doctor still finds the leak, marked fine in the log: not shown again');
  await page.click('button.undo-all');
  await page.waitForFunction(() => document.querySelectorAll('.change-log li.relabel:not(.undone)').length === 0);
  assert.equal(treeHash(data), original, 'undo all: the dataset is as it was');
  const log = readFileSync(join(data, '.headstart-changes.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .slice(logBefore)
    .map((l) => JSON.parse(l) as { op: string; about?: string; paths?: string[] });
  const fineLeak = log.find((x) => x.op === 'fine' && x.about === 'leak');
  assert.deepEqual(fineLeak?.paths?.sort(), [leak.train, leak.val].sort());
  assert.deepEqual(pageErrors(page), []);
  await page.close();
});
