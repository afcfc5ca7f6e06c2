/**
 * The output folder: `--out <a file>` (and `--cache-dir <a file>`) is our error, not a raw
 * EEXIST; a run interrupted before its first epoch finished leaves no empty folder behind and
 * keeps the features it extracted in the cache (the next run reuses them).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HeadstartError } from '../src/errors.js';
import { main } from '../src/cli/main.js';
import { train } from '../src/train/train.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

test('--out and --cache-dir naming a file: E_WRITE_FAILED that says so; the CLI prints one line', async () => {
  const root = await makeColourDataset({ train: 2, val: 1 });
  const file = join(await tempDir(), 'somefile');
  writeFileSync(file, 'x');
  const base = { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, threads: 1 } as const;
  for (const [options, flag] of [
    [{ out: file, cacheDir: await tempDir('cache-') }, '--out'],
    [{ out: join(await tempDir(), 'run'), cacheDir: file }, '--cache-dir'],
  ] as const) {
    await assert.rejects(train(root, { ...base, ...options }), (err: unknown) => {
      assert.ok(err instanceof HeadstartError);
      assert.equal(err.code, 'E_WRITE_FAILED');
      assert.equal(err.message, `${flag} \`${file}\` is a file, not a folder`);
      return true;
    });
  }
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  const code = await main(['train', root, '--model', 'mobilenet_v2_offline', '--out', join(file, 'below')], io);
  assert.equal(code, 1);
  assert.doesNotMatch(io.stderr, /EEXIST|ENOTDIR|mkdir|\n\s+at /);
  assert.match(io.stderr, /^error: Cannot create the output folder `[^`]+` for --out: a file is in the way on its path/);
});

test('interrupted before the first epoch: no empty folder left, the extracted features stay cached', async () => {
  const root = await makeColourDataset({ train: 4, val: 2 });
  const cacheDir = await tempDir('cache-');
  const out = join(await tempDir(), 'run');
  const controller = new AbortController();
  const messages: string[] = [];
  const r = await train(
    root,
    { model: tinySpec, weights: 'none', mode: 'features', epochs: 2, batchSize: 4, threads: 1, out, cacheDir },
    {
      signal: controller.signal,
      listeners: [
        {
          batch_end: (e) => {
            if (e.phase === 'train') controller.abort();
          },
          interrupted: (e) => void messages.push(e.message),
        },
      ],
    },
  );
  assert.equal(r.interrupted, true);
  assert.equal(existsSync(out), false, 'the empty run folder is removed');
  assert.match(messages[0], /nothing to resume \(removed the empty .*\); the extracted features stay cached/);
  assert.ok(readdirSync(cacheDir).some((f) => f.endsWith('.bin')));
  const again = await train(root, { model: tinySpec, weights: 'none', mode: 'features', epochs: 1, batchSize: 4, threads: 1, out, cacheDir });
  assert.equal(again.featureCache?.hit, true);
});
