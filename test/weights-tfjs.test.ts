import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type * as TfCore from '@tensorflow/tfjs-core';
import { WeightsError } from '../src/errors.js';
import { parseJsLiteral } from '../src/weights/js-literal.js';
import { loadTfjsLayersModel, readTfjsLayersModel } from '../src/weights/tfjs.js';

/** tfjs-core (a dependency of nsfwjs) as the reference decoder, when it can be loaded. */
async function tfjsCore(): Promise<typeof TfCore | undefined> {
  try {
    const log = console.log;
    console.log = () => {}; // tfjs prints a banner suggesting tfjs-node
    try {
      const tf = await import('@tensorflow/tfjs-core');
      await import('@tensorflow/tfjs-backend-cpu');
      await tf.setBackend('cpu');
      return tf;
    } finally {
      console.log = log;
    }
  } catch {
    return undefined;
  }
}

const topology = {
  keras_version: '2.2.4',
  backend: 'tensorflow',
  model_config: {
    class_name: 'Sequential',
    config: {
      name: 'tiny',
      layers: [
        { class_name: 'Dense', config: { name: 'dense', units: 2, use_bias: true, batch_input_shape: [null, 3] } },
        { class_name: 'Dense', config: { name: 'out', units: 2 } },
      ],
    },
  },
};

// Weights in two groups, four shards: every encoding tfjs-core knows.
const specs = [
  { name: 'dense/kernel', shape: [3, 2], dtype: 'float32' },
  { name: 'dense/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.25, min: -1 } },
  { name: 'out/kernel', shape: [2, 2], dtype: 'float32', quantization: { min: 0.5, scale: 0.001, dtype: 'uint16' } },
  { name: 'out/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'float16' } },
  { name: 'step', shape: [], dtype: 'int32' },
  { name: 'counts', shape: [3], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.5, min: 10 } },
  { name: 'mask', shape: [2], dtype: 'bool' },
];

function weightBytes(): Uint8Array {
  const parts: ArrayBuffer[] = [
    Float32Array.from([1, -2, 3.25, 0, 1e-7, -0.5]).buffer,
    Uint8Array.from([0, 255]).buffer, // bias: -1, 62.75
    Uint16Array.from([0, 65535, 1000, 7]).buffer,
    Uint16Array.from([0x3c00, 0xc000]).buffer, // 1, -2 as float16
    Int32Array.from([-7]).buffer,
    Uint8Array.from([0, 3, 255]).buffer, // 10, 11.5 -> 12 (round), 137.5 -> 138
    Uint8Array.from([0, 9]).buffer,
  ];
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), at);
    at += p.byteLength;
  }
  return out;
}

const modelJson = (weights = specs) => ({
  format: 'layers-model',
  modelTopology: topology,
  weightsManifest: [
    { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: weights.slice(0, 4) },
    { paths: ['group2-shard1of1.bin'], weights: weights.slice(4) },
  ],
});

describe('weights: TF.js layers models', () => {
  test('decodes float32, uint8/uint16/float16 quantisation, int32 and bool like tfjs-core', async () => {
    const bytes = weightBytes();
    const m = readTfjsLayersModel(modelJson(), [bytes.subarray(0, 10), bytes.subarray(10, 40), bytes.subarray(40)]);
    assert.equal(m.topology.class_name, 'Sequential');
    assert.deepEqual(
      m.layers.map((l) => l.config.name),
      ['dense', 'out'],
    );
    assert.equal(m.kerasVersion, '2.2.4');
    assert.deepEqual(
      [...m.weights.keys()],
      specs.map((s) => s.name),
    );
    const v = (k: string) => Array.from(m.weights.get(k)!.data as ArrayLike<number>);
    assert.deepEqual(v('dense/kernel'), [1, -2, 3.25, 0, Math.fround(1e-7), -0.5]);
    assert.deepEqual(v('dense/bias'), [-1, 62.75]);
    assert.deepEqual(v('out/kernel'), [0.5, 65535 * 0.001 + 0.5, 1000 * 0.001 + 0.5, 7 * 0.001 + 0.5].map(Math.fround));
    assert.deepEqual(v('out/bias'), [1, -2]);
    assert.equal(m.weights.get('step')!.dtype, 'int32');
    assert.deepEqual(v('step'), [-7]);
    assert.deepEqual(v('counts'), [10, 12, 138]);
    assert.equal(m.weights.get('mask')!.dtype, 'bool');
    assert.deepEqual(v('mask'), [0, 1]);
    assert.deepEqual(m.weights.get('dense/kernel')!.shape, [3, 2]);

    const tf = await tfjsCore();
    if (!tf) return;
    const ref = tf.io.decodeWeights(bytes.slice().buffer, specs as never);
    for (const s of specs) {
      const want = [...ref[s.name].dataSync()].map(Number);
      // tfjs-core keeps a bool's raw byte; we normalise to 0/1.
      assert.deepEqual(v(s.name), s.dtype === 'bool' ? want.map((x) => (x ? 1 : 0)) : want, `${s.name} vs tfjs-core`);
    }
  });

  test('reads model.json and its shards from disk', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headstart-tfjs-'));
    try {
      const bytes = weightBytes();
      writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson()));
      writeFileSync(join(dir, 'group1-shard1of2.bin'), bytes.subarray(0, 20));
      writeFileSync(join(dir, 'group1-shard2of2.bin'), bytes.subarray(20, 40));
      writeFileSync(join(dir, 'group2-shard1of1.bin'), bytes.subarray(40));
      const m = await loadTfjsLayersModel(join(dir, 'model.json'));
      assert.equal(m.weights.size, specs.length);
      // One small shard: Node reads it into a pooled Buffer at an unaligned offset.
      const one = modelJson();
      one.weightsManifest = [{ paths: ['all.bin'], weights: specs }];
      writeFileSync(join(dir, 'one.json'), JSON.stringify(one));
      writeFileSync(join(dir, 'all.bin'), bytes);
      const single = await loadTfjsLayersModel(join(dir, 'one.json'));
      assert.deepEqual([...(single.weights.get('dense/kernel')!.data as Float32Array)], [...(m.weights.get('dense/kernel')!.data as Float32Array)]);
      rmSync(join(dir, 'group2-shard1of1.bin'));
      await assert.rejects(loadTfjsLayersModel(join(dir, 'model.json')), { code: 'E_NOT_FOUND', name: 'IOError', message: /Cannot read TF\.js file `.*group2-shard1of1\.bin`: ENOENT/ });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('truncated or extra data, unknown dtypes and bad manifests are clear errors', () => {
    const bytes = weightBytes();
    const err = (json: unknown, data: Uint8Array, re: RegExp) =>
      assert.throws(
        () => readTfjsLayersModel(json, data, { fileName: 'm.json' }),
        (e: unknown) => e instanceof WeightsError && re.test(e.message),
      );
    err(modelJson(), bytes.subarray(0, bytes.length - 1), /`m\.json`: weight data is truncated: `mask` needs bytes 45\.\.47, but the shards hold 46 bytes/);
    err(modelJson(), new Uint8Array(bytes.length + 4), /4 bytes of weight data are not described by weightsManifest/);
    err(modelJson([{ name: 'x', shape: [1], dtype: 'complex64' }]), new Uint8Array(8), /weight `x` has dtype complex64/);
    err(modelJson([{ name: 'x', shape: [1], dtype: 'float32', quantization: { dtype: 'uint8' } }]), new Uint8Array(1), /uint8 quantisation without scale and min/);
    err(modelJson([specs[0], specs[0]]), new Uint8Array(48), /weight `dense\/kernel` is listed twice/);
    err({ modelTopology: topology }, bytes, /not a TF\.js layers model\.json \(weightsManifest/);
    err({ ...modelJson(), format: 'graph-model' }, bytes, /format is `graph-model`, not a layers model/);
    err({ ...modelJson(), modelTopology: { node: [] } }, bytes, /modelTopology is not a Keras model config/);
    assert.throws(() => readTfjsLayersModel(modelJson(), bytes, { strict: true } as never), { code: 'E_BAD_OPTION', message: /Invalid TF\.js reader options/ });
  });
});

describe('weights: JS literal parser (reads bundled model files without running them)', () => {
  const parse = (s: string) => parseJsLiteral(s, 0).value;

  test('minified data literals', () => {
    assert.deepEqual(parse('{a:!0,b:!1,"c d":[1,-.5,.25,1e-5,-3E2,0x1f],e:null,f:"x\\"y\\u0041\\n",g:\'q\',h:void 0,i:{},j:[],k:[1,2,]}'), {
      a: true,
      b: false,
      'c d': [1, -0.5, 0.25, 1e-5, -300, 31],
      e: null,
      f: 'x"yA\n',
      g: 'q',
      h: undefined,
      i: {},
      j: [],
      k: [1, 2],
    });
    const r = parseJsLiteral('x.exports={a:1}});', 10);
    assert.deepEqual(r, { value: { a: 1 }, end: 15 });
    const proto = parse('{__proto__:{polluted:1}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(proto), Object.prototype, 'a __proto__ key is plain data');
    assert.deepEqual(Object.keys(proto), ['__proto__']);
  });

  test('code is refused', () => {
    assert.throws(() => parse('{a:function(){}}'), { code: 'E_BAD_WEIGHTS', message: /`function` is not a data literal/ });
    assert.throws(() => parse('{a:b}'), { code: 'E_BAD_WEIGHTS', message: /`b` is not a data literal/ });
    assert.throws(() => parse('{a:1+2}'), { code: 'E_BAD_WEIGHTS', message: /expected `,` or `}`/ });
    assert.throws(() => parse('[1,2'), { code: 'E_BAD_WEIGHTS', message: /expected `,` or `]`/ });
    assert.throws(() => parse('"abc'), { code: 'E_BAD_WEIGHTS', message: /unterminated string/ });
    assert.throws(() => parse('{a:!2}'), { code: 'E_BAD_WEIGHTS', message: /expected !0 or !1/ });
  });
});
