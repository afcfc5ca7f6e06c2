/**
 * `export --model resnet18 --weights <a mobilenet_v2 state dict>` (issue 12, item 9): the
 * architecture mismatch is diagnosed first, as train does, instead of advising --num-classes
 * (the weights lack `fc.weight` because they are another network, not for want of a count).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../src/cli/command-io.js';
import { exportCommand } from '../src/cli/commands/export.js';
import { networkParamDefs } from '../src/graphs/network-params.js';
import { exportModel } from '../src/infer/export.js';
import { getModel } from '../src/models/registry.js';
import type { NamedTensors } from '../src/tensor.js';
import { writeSafetensors } from '../src/weights/safetensors.js';

const dir = mkdtempSync(join(os.tmpdir(), 'headstart-export-diagnosis-'));

function stateDict(model: string, numClasses: number, keep: (name: string) => boolean = () => true): NamedTensors {
  const out: NamedTensors = new Map();
  for (const d of networkParamDefs(getModel(model), numClasses)) {
    if (keep(d.name)) out.set(d.name, { dtype: 'float32', shape: [...d.shape], data: new Float32Array(d.shape.reduce((a, b) => a * b, 1)) });
  }
  return out;
}

test('weights of another architecture: "saved from another architecture" comes first, not --num-classes', async () => {
  const file = join(dir, 'mobilenet_v2.safetensors');
  writeFileSync(file, writeSafetensors(stateDict('mobilenet_v2', 10)));
  await assert.rejects(exportModel('resnet18', join(dir, 'x.onnx'), { weights: file }), (err: Error & { code?: string; hint?: string }) => {
    assert.equal(err.code, 'E_WEIGHTS_MISMATCH');
    assert.match(err.message, /lack \d+ parameter\(s\) of resnet18: `conv1\.weight`/);
    assert.match(err.hint ?? '', /another architecture/);
    assert.doesNotMatch(`${err.message} ${err.hint}`, /--num-classes/);
    return true;
  });
  const io = { stdout: '', stderr: '', tty: false, out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) } satisfies CommandIO & { stdout: string; stderr: string };
  assert.equal(await exportCommand(['--model', 'resnet18', '--weights', file, '--out', join(dir, 'y.onnx')], io), 1);
  assert.match(io.stderr, /^error: The weights of .* lack \d+ parameter\(s\) of resnet18.*another architecture/);
  assert.doesNotMatch(io.stderr, /num-classes/);
});

test('the right architecture without its classifier still asks for --num-classes', async () => {
  const file = join(dir, 'resnet18-headless.safetensors');
  writeFileSync(file, writeSafetensors(stateDict('resnet18', 10, (n) => !n.startsWith('fc.'))));
  await assert.rejects(exportModel('resnet18', join(dir, 'z.onnx'), { weights: file }), { code: 'E_WEIGHTS_MISMATCH', message: /have no `fc\.weight`: the class count is unknown/ });
});
