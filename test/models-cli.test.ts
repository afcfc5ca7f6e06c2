import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { modelsCommand } from '../src/cli/commands/models.js';
import type { ModelSummary } from '../src/graphs/model-summary.js';
import { listModels } from '../src/models/registry.js';

function capture(): CommandIO & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

// torchvision 0.14's documented `num_params` (its *_Weights meta), 1000-class heads.
const TORCHVISION_NUM_PARAMS: Record<string, number> = {
  resnet18: 11689512,
  resnet34: 21797672,
  resnet50: 25557032,
  mobilenet_v2: 3504872,
  mobilenet_v3_large: 5483032,
  efficientnet_b0: 5288548,
};

test('headstart models --json: every registered model, torchvision parameter counts, weight sources', async () => {
  const io = capture();
  assert.equal(await modelsCommand(['--json'], io), 0, io.stderr);
  const list = JSON.parse(io.stdout) as ModelSummary[];
  assert.deepEqual(
    list.map((m) => m.name),
    listModels().map((m) => m.name),
  );
  for (const [name, count] of Object.entries(TORCHVISION_NUM_PARAMS)) {
    const m = list.find((x) => x.name === name);
    assert.ok(m?.params, `${name} listed with parameter counts`);
    assert.equal(m.params.total, count, `${name} parameter count`);
    assert.equal(m.params.head, (m.featureDim + 1) * 1000);
    const w = m.weights.find((x) => x.default);
    assert.ok(w && w.kind === 'download', `${name} has a default download`);
    assert.match(w.url!, /^https:\/\/download\.pytorch\.org\/models\/.+-([0-9a-f]{8})\.pth$/);
    assert.equal(w.sha256, /-([0-9a-f]{8})\.pth$/.exec(w.url!)![1], 'torchvision file names carry the sha256 prefix');
  }
  for (const m of list)
    assert.ok(
      m.weights.every((w) => w.license.length > 0),
      `${m.name}: every weight source names its licence`,
    );
});

test('headstart models: a table with one row per model, filtered by name', async () => {
  const io = capture();
  assert.equal(await modelsCommand([], io), 0, io.stderr);
  for (const spec of listModels()) assert.match(io.stdout, new RegExp(`^${spec.name}\\s`, 'm'));
  assert.match(io.stdout, /^efficientnet_b0\s+5\.29 M\s+4\.01 M\s+1280\s+224 \(resize 256, bicubic\)/m);
  const one = capture();
  assert.equal(await modelsCommand(['mobilenet_v3_large'], one), 0);
  assert.equal(one.stdout.split('\n').filter((l) => /^\S+\s+\d+\.\d\d M/.test(l)).length, 1);
  assert.match(one.stdout, /mobilenet_v3_large-8738ca79\.pth/);
});

test('headstart models: an unknown model (an invalid value) and a bad flag exit 2, naming the choices', async () => {
  const io = capture();
  assert.equal(await modelsCommand(['resnet19'], io), 2);
  assert.match(io.stderr, /Unknown model `resnet19`.*resnet18/);
  const bad = capture();
  assert.equal(await modelsCommand(['--jsn'], bad), 2);
  assert.match(bad.stderr, /--json/);
});
