/**
 * The public declarations compile in a consumer that checks library types (`skipLibCheck:
 * false`): no onnx-proto types (which need a global `Long`) reach them. The declarations are
 * emitted from src/ into a temporary package (as `npm run build` would), and a tiny consumer
 * importing `headstart` is type-checked against them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = new URL('..', import.meta.url).pathname;
const tsc = join(repo, 'node_modules/typescript/bin/tsc');

function declarationFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('a consumer with skipLibCheck: false compiles against the public declarations', { timeout: 600_000 }, async () => {
  const pkg = await mkdtemp(join(os.tmpdir(), 'headstart-dts-'));
  cpSync(join(repo, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(repo, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  // Declarations only, without type-checking src/ again (lint:types does that).
  await run(process.execPath, [tsc, '-p', join(repo, 'tsconfig.json'), '--emitDeclarationOnly', '--noCheck', '--sourceMap', 'false', '--outDir', join(pkg, 'dist')], { cwd: repo });
  const emitted = declarationFiles(join(pkg, 'dist'));
  assert.ok(emitted.some((f) => f.endsWith('src/index.d.ts')));

  const consumer = await mkdtemp(join(os.tmpdir(), 'headstart-consumer-'));
  mkdirSync(join(consumer, 'node_modules'));
  symlinkSync(pkg, join(consumer, 'node_modules/headstart'), 'dir');
  symlinkSync(join(repo, 'node_modules/@types'), join(consumer, 'node_modules/@types'), 'dir');
  writeFileSync(
    join(consumer, 'index.ts'),
    "import { train, predict, HeadstartError, type TrainOptions } from 'headstart';\nconst o: TrainOptions = { epochs: 1 };\nexport const uses = [train, predict, HeadstartError, o];\n",
  );
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] }, files: ['index.ts'] }),
  );
  const r = await run(process.execPath, [tsc, '-p', join(consumer, 'tsconfig.json'), '--listFiles'], { cwd: consumer }).catch((err: { stdout: string; stderr: string }) => err);
  const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
  assert.deepEqual(errors, [], `the consumer does not compile:\n${errors.slice(0, 10).join('\n')}`);
  const checked = r.stdout.split('\n').filter((l) => l.includes('/headstart-dts-'));
  assert.ok(checked.length > 5, 'the consumer checked the emitted declarations');
  for (const f of checked) assert.doesNotMatch(readFileSync(f.trim(), 'utf8'), /from 'onnx-proto'/, `${f} imports onnx-proto`);
});
