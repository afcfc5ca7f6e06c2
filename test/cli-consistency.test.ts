/**
 * The commands behave alike: every one takes --json (README says so; `predict --json` is
 * `--format json`), misspelled names get a "did you mean" (flags with swapped letters, model
 * names), usage errors exit 2, and --threads above the core count warns and is capped.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { COMMANDS, main } from '../src/cli/main.js';
import { threadCount } from '../src/engine/thread-count.js';
import { buildInferenceGraph } from '../src/graphs/network-graph.js';
import { writeClassifier } from '../src/infer/model-file.js';
import { initParams } from '../src/models/init-params.js';
import { makeColourDataset, tempDir, tinySpec } from './train-fixtures.js';

function capture(): CommandIO & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

async function cli(...argv: string[]) {
  const io = capture();
  const code = await main(argv, io);
  return { code, out: io.stdout, err: io.stderr };
}

test('README: every command takes --help and --json', async () => {
  for (const name of Object.keys(COMMANDS)) {
    const r = await cli(name, '--json', '--help');
    assert.equal(r.code, 0, `${name} --json: ${r.err}`);
  }
});

test('predict --json is --format json; with another --format it is a usage error', async () => {
  const root = await makeColourDataset({ train: 1, val: 1 });
  const model = join(await tempDir(), 'model.onnx');
  const probe = buildInferenceGraph(tinySpec, { batch: -1, numClasses: 3 });
  await writeClassifier(model, tinySpec, initParams(probe.params, 1), { model: tinySpec.name, classes: ['blue', 'green', 'red'], preprocess: tinySpec.preprocess, mode: 'finetune' });
  const images = join(root, 'val');
  const viaFormat = await cli('predict', model, images, '--format', 'json', '--threads', '1');
  const viaJson = await cli('predict', model, images, '--json', '--threads', '1');
  assert.equal(viaJson.code, 0, viaJson.err);
  assert.equal(viaJson.out, viaFormat.out);
  assert.equal(JSON.parse(viaJson.out).predictions.length, 3);
  const both = await cli('predict', model, images, '--json', '--format', 'csv');
  assert.equal(both.code, 2);
  assert.match(both.err, /--json is short for --format json and contradicts --format csv/);

  const many = os.availableParallelism() + 5;
  const capped = await cli('predict', model, images, '--threads', String(many));
  assert.equal(capped.code, 0, capped.err);
  assert.ok(capped.err.includes(`warning: --threads ${many} is more than this machine's ${os.availableParallelism()} core`), capped.err);
});

test('--threads above the cores is capped, with the reason; within them it is used as given', () => {
  assert.deepEqual(threadCount(3, 8), { threads: 3, note: null });
  assert.deepEqual(threadCount(undefined, 8), { threads: 8, note: null });
  const c = threadCount(99, 2);
  assert.equal(c.threads, 2);
  assert.match(c.note ?? '', /--threads 99 is more than this machine's 2 cores: using 2/);
});

test('did you mean: swapped letters in a flag, a misspelled model; usage errors exit 2', async () => {
  const flag = await cli('train', 'nowhere', '--modle', 'resnet18');
  assert.equal(flag.code, 2);
  assert.match(flag.err, /unknown flag --modle .*\(did you mean --model\?\)/);
  const model = await cli('train', 'nowhere', '--model', 'resnet81');
  assert.equal(model.code, 2);
  assert.match(model.err, /Unknown model `resnet81` \(did you mean resnet18\?\)/);
  const command = await cli('trian');
  assert.equal(command.code, 2);
  assert.match(command.err, /did you mean `train`/);
});
