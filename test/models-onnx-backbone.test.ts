import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import onnxProto from 'onnx-proto';
import { Session } from '../src/engine/session.js';
import { IO, buildInferenceGraph, buildTrainingGraph } from '../src/graphs/network-graph.js';
import { HeadstartError } from '../src/errors.js';
import { onnxBackboneSpec } from '../src/models/onnx-backbone.js';
import { getModel } from '../src/models/registry.js';
import { Graph } from '../src/onnx/graph.js';
import { serializeModel } from '../src/onnx/serialize.js';
import type { HostTensor } from '../src/tensor.js';
import { readOnnxFile } from '../src/weights/onnx-file.js';

/**
 * Bring your own backbone: torchvision's resnet18 (random weights, non-trivial BatchNorm
 * statistics) exported by Debian's torch with torch.onnx.export — with a Reshape whose shape
 * is a Constant node, as exporters write them — then imported with --model x.onnx.
 */
const PYTHON = '/usr/bin/python3';
const SIZE = 64;
const BATCH = 2;
const CLASSES = 3;

const EXPORT = String.raw`
import sys, torch, torchvision, numpy as np
torch.set_num_threads(2)
torch.manual_seed(0)
out = sys.argv[1]
m = torchvision.models.resnet18(weights=None)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2); mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.2, 0.2)
class Reshape(torch.nn.Module):
    def forward(self, x):
        return x.reshape(-1, 512, 1, 1)
m.avgpool = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), Reshape())
m.eval()
x = torch.randn(${BATCH}, 3, ${SIZE}, ${SIZE})
torch.onnx.export(m, x[:1], out + '/resnet18.onnx', input_names=['input'], output_names=['logits'],
                  dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=15,
                  training=torch.onnx.TrainingMode.TRAINING, do_constant_folding=False)
m.eval()
with torch.no_grad():
    feats = torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))), 1)
x.numpy().astype('<f4').tofile(out + '/x.bin')
feats.numpy().astype('<f4').tofile(out + '/features.bin')
`;

let dir = '';
let skip: string | false = false;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'headstart-onnx-backbone-'));
  const r = spawnSync(PYTHON, ['-c', EXPORT, dir], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    if (/No module named/.test(r.stderr ?? '') || r.error)
      skip = `Debian's python3-torch / python3-torchvision are needed to export the reference model (${(r.stderr ?? String(r.error)).trim().split('\n').pop()})`;
    else throw new Error(`torch.onnx.export failed: ${r.stderr}`);
  }
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function f32(file: string, shape: number[]): HostTensor {
  const b = readFileSync(file);
  return { dtype: 'float32', shape, data: new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) };
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

test('an exported torchvision resnet18 (with Constant nodes) imports as a backbone: pooled features equal torchvision within 1e-4', async (t) => {
  if (skip) return t.skip(skip);
  const file = path.join(dir, 'resnet18.onnx');
  const proto = onnxProto.onnx.ModelProto.decode(readFileSync(file));
  assert.ok(
    proto.graph!.node!.some((n) => n.opType === 'Constant'),
    'the export holds Constant nodes',
  );
  const spec = onnxBackboneSpec(file);
  assert.equal(spec.featureDim, 512);
  assert.equal(spec.preprocess.inputSize, SIZE);
  const params = await spec.builtinWeights!.load();
  assert.equal(params.size, 20 * 1 + 20 * 4, "every conv weight and BatchNorm tensor is a parameter; the file's own fc is not");
  assert.ok(!params.has('fc.weight'));
  const built = buildInferenceGraph(spec, { numClasses: CLASSES, batch: BATCH, featuresOnly: true, constants: params });
  const session = await Session.create(built.bytes, { threads: 2 });
  const out = await session.run({ [IO.images]: f32(path.join(dir, 'x.bin'), [BATCH, 3, SIZE, SIZE]) });
  await session.release();
  const want = f32(path.join(dir, 'features.bin'), [BATCH, 512]);
  assert.deepEqual(out[IO.features].shape, [BATCH, 512]);
  const rel = maxRelDiff(out[IO.features].data as Float32Array, want.data as Float32Array);
  assert.ok(rel < 1e-4, `features differ from torchvision by ${rel} (relative to the largest)`);
});

test('one fine-tuning step on the imported resnet18 matches the zoo resnet18 step from the same weights', async (t) => {
  if (skip) return t.skip(skip);
  const spec = onnxBackboneSpec(path.join(dir, 'resnet18.onnx'));
  const zoo = getModel('resnet18');
  const backbone = await spec.builtinWeights!.load();
  const x = f32(path.join(dir, 'x.bin'), [BATCH, 3, SIZE, SIZE]);
  const targets: HostTensor = { dtype: 'float32', shape: [BATCH, CLASSES], data: Float32Array.from([1, 0, 0, 0, 0, 1]) };
  const head = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 1.7) * 0.05);
  const step = async (s: typeof spec) => {
    const graph = buildTrainingGraph(s, { numClasses: CLASSES, batch: BATCH, inputSize: SIZE, trainable: () => true });
    const feeds: Record<string, HostTensor> = { [IO.images]: x, [IO.targets]: targets };
    for (const name of graph.fed) {
      if (name === `${s.head.name}.weight`) feeds[name] = { dtype: 'float32', shape: [CLASSES, 512], data: head(CLASSES * 512, 1) };
      else if (name === `${s.head.name}.bias`) feeds[name] = { dtype: 'float32', shape: [CLASSES], data: head(CLASSES, 2) };
      else feeds[name] = backbone.get(name)!;
    }
    const session = await Session.create(graph.bytes, { threads: 2 });
    const out = await session.run(feeds);
    await session.release();
    return { out, graph };
  };
  const mine = await step(spec);
  const ref = await step(zoo);
  assert.deepEqual([...mine.graph.trainable].sort(), [...ref.graph.trainable].sort(), 'the same parameters train');
  assert.deepEqual([...mine.graph.running].sort(), [...ref.graph.running].sort(), 'the same running statistics update');
  const loss = (mine.out[IO.loss].data as Float32Array)[0];
  assert.ok(Math.abs(loss - (ref.out[IO.loss].data as Float32Array)[0]) < 1e-5 * Math.abs(loss), 'same loss');
  for (const p of ref.graph.trainable) {
    const rel = maxRelDiff(mine.out[IO.grad(p)].data as Float32Array, ref.out[IO.grad(p)].data as Float32Array);
    assert.ok(rel < 1e-4, `gradient of ${p} differs by ${rel}`);
  }
  for (const p of ref.graph.running) {
    const rel = maxRelDiff(mine.out[IO.running(p)].data as Float32Array, ref.out[IO.running(p)].data as Float32Array);
    assert.ok(rel < 1e-5, `running statistic ${p} differs by ${rel}`);
  }
});

/** A tiny model whose one weight lives in an external data file at `location`. */
function externalModel(folder: string, location: string): string {
  const g = new Graph();
  const x = g.input('x', 'float32', [1, 4]);
  const w = g.initializer('w', { dtype: 'float32', shape: [4, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
  g.output(g.op('MatMul', [x, w]));
  const model = onnxProto.onnx.ModelProto.decode(serializeModel(g));
  const init = model.graph!.initializer![0];
  init.rawData = new Uint8Array();
  init.dataLocation = onnxProto.onnx.TensorProto.DataLocation.EXTERNAL;
  init.externalData = [
    { key: 'location', value: location },
    { key: 'offset', value: '0' },
    { key: 'length', value: '32' },
  ];
  const file = path.join(folder, 'model.onnx');
  writeFileSync(file, onnxProto.onnx.ModelProto.encode(model).finish());
  return file;
}

test('external data: read from beside the model; a path that leaves its folder is refused before anything is read', () => {
  const root = mkdtempSync(path.join(tmpdir(), 'headstart-external-'));
  try {
    const folder = path.join(root, 'a', 'b');
    mkdirSync(folder, { recursive: true });
    const weights = Buffer.from(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
    writeFileSync(path.join(folder, 'w.bin'), weights);
    const ok = readOnnxFile(externalModel(folder, 'w.bin'));
    assert.deepEqual(Array.from(ok.graph.initializers.get('w')!.data as Float32Array), [1, 2, 3, 4, 5, 6, 7, 8]);

    // A real file outside the folder, so a refusal cannot be a mere "not found".
    writeFileSync(path.join(root, 'secret.bin'), weights);
    symlinkSync(path.join(root, 'secret.bin'), path.join(folder, 'link.bin'));
    for (const [location, why] of [
      ['../../etc/passwd', /leaves the folder/],
      ['../../secret.bin', /leaves the folder/],
      [path.join(root, 'secret.bin'), /absolute path/],
      ['/etc/passwd', /absolute path/],
      ['link.bin', /resolves outside the folder/],
    ] as const) {
      assert.throws(
        () => readOnnxFile(externalModel(folder, location)),
        (err: unknown) => err instanceof HeadstartError && err.code === 'E_UNSAFE_WEIGHTS' && why.test(err.message) && err.message.includes(location),
        location,
      );
    }
    assert.throws(
      () => readOnnxFile(externalModel(folder, 'missing.bin')),
      (err: unknown) => err instanceof HeadstartError && err.code === 'E_NOT_FOUND',
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('headstart train --model x.onnx --mode features: trains on the imported backbone and records its preprocessing in config.json', async (t) => {
  if (skip) return t.skip(skip);
  const { makeColourDataset, tempDir } = await import('./train-fixtures.js');
  const data = await makeColourDataset({ train: 4, val: 2, size: 24 });
  const out = await tempDir();
  try {
    const p = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'train',
        data,
        '--model',
        path.join(dir, 'resnet18.onnx'),
        '--mode',
        'features',
        '--epochs',
        '1',
        '--batch-size',
        '4',
        '--threads',
        '2',
        '--mean',
        '0.5,0.5,0.5',
        '--std',
        '0.25,0.25,0.25',
        '--out',
        out,
        '--cache-dir',
        path.join(out, 'cache'),
        '--json',
      ],
      { encoding: 'utf8', timeout: 300_000 },
    );
    assert.equal(p.status, 0, p.stderr);
    const config = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    assert.match(JSON.stringify(config), /resnet18\.onnx/);
    assert.deepEqual(config.preprocess?.mean, [0.5, 0.5, 0.5], JSON.stringify(config));
    assert.deepEqual(config.preprocess?.std, [0.25, 0.25, 0.25]);
    assert.equal(config.preprocess?.inputSize, SIZE, 'the input size comes from the model file');
  } finally {
    rmSync(data, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
});
