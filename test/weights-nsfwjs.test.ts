import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import vm from 'node:vm';
import { WeightsError } from '../src/errors.js';
import type { HostTensor } from '../src/tensor.js';
import { findNsfwjsPackageDir, loadNsfwjsMobileNetV2, NSFWJS_MOBILENET_V2 } from '../src/weights/nsfwjs-mobilenet-v2.js';
import type { TfjsLayersModel } from '../src/weights/tfjs.js';

/** Test-only reference: what the UMD module exports when it is actually run (in a bare vm context). */
function runModule(path: string): unknown {
  const module = { exports: {} as unknown };
  vm.runInNewContext(readFileSync(path, 'utf8'), { module, exports: module.exports });
  return structuredClone(module.exports); // into this realm, so deepEqual compares prototypes fairly
}

const digest = (t: HostTensor) =>
  createHash('sha256')
    .update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
    .digest('hex');

/** The fields of a Keras layer config that these checks read. */
interface KerasLayerConfig extends Record<string, unknown> {
  name: string;
  kernel_size: [number, number];
  filters: number;
  depth_multiplier: number;
  units: number;
  use_bias: boolean;
  batch_input_shape: number[];
}

/** Expected weight shapes of a Keras layer, from its config and the channels that reach it. */
function expectedWeights(layer: TfjsLayersModel['layers'][number], inChannels: number): [string, number[]][] {
  const c = layer.config as KerasLayerConfig;
  const name = c.name;
  switch (layer.class_name) {
    case 'Conv2D':
      return [[`${name}/kernel`, [...c.kernel_size, inChannels, c.filters]], ...(c.use_bias ? [[`${name}/bias`, [c.filters]] as [string, number[]]] : [])];
    case 'DepthwiseConv2D':
      return [[`${name}/depthwise_kernel`, [...c.kernel_size, inChannels, c.depth_multiplier]], ...(c.use_bias ? [[`${name}/bias`, [inChannels * c.depth_multiplier]] as [string, number[]]] : [])];
    case 'BatchNormalization':
      return ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => [`${name}/${w}`, [inChannels]]);
    case 'Dense':
      return [[`${name}/kernel`, [inChannels, c.units]], ...(c.use_bias ? [[`${name}/bias`, [c.units]] as [string, number[]]] : [])];
    default:
      return [];
  }
}

/** Output channels of each layer, following inbound_nodes (channels_last). */
function outChannels(layer: TfjsLayersModel['layers'][number], inChannels: number): number {
  const c = layer.config as KerasLayerConfig;
  if (layer.class_name === 'InputLayer') return c.batch_input_shape[3];
  if (layer.class_name === 'Conv2D') return c.filters;
  if (layer.class_name === 'DepthwiseConv2D') return inChannels * c.depth_multiplier;
  if (layer.class_name === 'Dense') return c.units;
  if (layer.class_name === 'Flatten') return inChannels; // 1x1 spatial after the 7x7 pool
  return inChannels;
}

describe('weights: the offline MobileNetV2 bundled in nsfwjs@4.4.0', () => {
  let model: TfjsLayersModel;

  test('loads without network and without running the package code', async () => {
    model = await loadNsfwjsMobileNetV2();
    assert.equal(model.topology.class_name, 'Model');
    assert.equal(model.kerasVersion, '2.2.4');
    assert.equal(model.layers.length, 162);
    assert.equal(model.layers[0].name, 'input_1');
    assert.deepEqual((model.layers[0].config as { batch_input_shape: unknown }).batch_input_shape, [null, ...NSFWJS_MOBILENET_V2.inputShape]);
    assert.deepEqual(
      model.layers.slice(-8).map((l) => `${l.class_name}:${l.name}`),
      ['ReLU:out_relu', 'AveragePooling2D:average_pooling2d_1', 'Flatten:flatten_1', 'Dense:dense_1', 'Dropout:dropout_2', 'Dense:dense_2', 'Dropout:dropout_3', 'Dense:dense_3'],
    );
    assert.equal(model.layers.filter((l) => l.class_name === 'Add').length, 10, 'MobileNetV2 has 10 residual adds');
  });

  test('parsing the text gives exactly what running the module exports', () => {
    const root = findNsfwjsPackageDir();
    const ran = runModule(join(root, NSFWJS_MOBILENET_V2.modelFile)) as { modelTopology: { model_config: unknown }; weightsManifest: { weights: unknown[] }[] };
    assert.deepEqual(model.topology, ran.modelTopology.model_config);
    assert.deepEqual(
      model.manifest,
      ran.weightsManifest.flatMap((g) => g.weights),
    );
    const b64 = runModule(join(root, NSFWJS_MOBILENET_V2.shardFile)) as string;
    const raw = Buffer.from(b64, 'base64');
    // Spot-check dequantisation against the raw uint8 codes: value = code * scale + min.
    let offset = 0;
    for (const spec of model.manifest) {
      const t = model.weights.get(spec.name)!;
      const q = spec.quantization!;
      assert.equal(q.dtype, 'uint8');
      for (const i of [0, t.data.length - 1]) {
        assert.equal((t.data as Float32Array)[i], Math.fround(raw[offset + i] * q.scale! + q.min!), `${spec.name}[${i}]`);
      }
      offset += t.data.length;
    }
    assert.equal(offset, raw.length);
  });

  test('every weight matches its manifest entry and its layer, and is finite', () => {
    assert.equal(model.weights.size, 266);
    let total = 0;
    for (const spec of model.manifest) {
      const t = model.weights.get(spec.name)!;
      assert.equal(t.dtype, 'float32');
      assert.deepEqual(t.shape, spec.shape, spec.name);
      assert.equal(
        t.data.length,
        spec.shape.reduce((a, b) => a * b, 1),
      );
      for (const x of t.data as Float32Array) if (!Number.isFinite(x)) assert.fail(`${spec.name} holds ${x}`);
      total += t.data.length;
    }
    assert.equal(total, 2_619_461);
    // Channels through the graph: each layer's weights have the shapes its config implies.
    const channels = new Map<string, number>();
    const expected = new Map<string, number[]>();
    for (const layer of model.layers) {
      const inbound = (layer.inbound_nodes as [string, number, number][][])[0]?.[0]?.[0];
      const cin = inbound === undefined ? 0 : channels.get(inbound)!;
      for (const [name, shape] of expectedWeights(layer, cin)) expected.set(name, shape);
      channels.set(layer.name!, outChannels(layer, cin));
    }
    assert.equal(channels.get(NSFWJS_MOBILENET_V2.featureLayer), NSFWJS_MOBILENET_V2.featureDim);
    assert.deepEqual([...expected.keys()].sort(), [...model.weights.keys()].sort(), 'weights are exactly those of the weighted layers');
    for (const [name, shape] of expected) assert.deepEqual(model.weights.get(name)!.shape, shape, name);
  });

  test('loading is deterministic', async () => {
    const again = await loadNsfwjsMobileNetV2();
    for (const [name, t] of model.weights) assert.equal(digest(again.weights.get(name)!), digest(t), name);
  });

  test('a modified or missing file is refused with the expected hash', async () => {
    const root = findNsfwjsPackageDir();
    const dir = mkdtempSync(join(tmpdir(), 'headstart-nsfwjs-'));
    try {
      cpSync(join(root, 'package.json'), join(dir, 'package.json'));
      cpSync(join(root, NSFWJS_MOBILENET_V2.modelFile), join(dir, NSFWJS_MOBILENET_V2.modelFile));
      await assert.rejects(
        loadNsfwjsMobileNetV2({ packageDir: dir }),
        (e: unknown) => e instanceof WeightsError && e.code === 'E_NOT_FOUND' && /group1-shard1of1\.min\.js` is missing/.test(e.message),
      );
      writeFileSync(join(dir, NSFWJS_MOBILENET_V2.shardFile), 'module.exports="AAAA"');
      await assert.rejects(loadNsfwjsMobileNetV2({ packageDir: dir }), { code: 'E_CHECKSUM', message: new RegExp(`expected ${NSFWJS_MOBILENET_V2.sha256.shard}`) });
      await assert.rejects(loadNsfwjsMobileNetV2({ packageDir: dir, verify: false }), { code: 'E_BAD_WEIGHTS', message: /weight data is truncated/ });
      await assert.rejects(loadNsfwjsMobileNetV2({ packageDir: dir, bogus: 1 } as never), { code: 'E_BAD_OPTION', message: /Invalid nsfwjs loader options/ });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
