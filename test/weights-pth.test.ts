import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { zipSync } from 'fflate';
import { IOError, WeightsError } from '../src/errors.js';
import type { HostTensor } from '../src/tensor.js';
import { loadPth, readPth, readPthCheckpoint } from '../src/weights/pth.js';

const PYTHON = '/usr/bin/python3';

interface Row {
  name: string;
  dtype: string;
  shape: number[];
  file: string;
}

function torchAvailable(): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (Debian's python3-torch is the reference)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `torch not importable by ${PYTHON}: ${r.stderr.trim().split('\n').pop()}`;
}

const skip = torchAvailable();
let dir = '';
let manifest: Record<string, Row[]> = {};

function bytesOf(t: HostTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectMatches(fixture: string, opts?: Parameters<typeof readPth>[1]): void {
  const file = join(dir, `${fixture}.pth`);
  const loaded = readPth(readFileSync(file), { fileName: file, ...opts });
  const rows = manifest[fixture];
  assert.deepEqual(
    [...loaded.keys()],
    rows.map((r) => r.name),
    'names in file order',
  );
  for (const row of rows) {
    const t = loaded.get(row.name)!;
    assert.equal(t.dtype, row.dtype, `${row.name} dtype`);
    assert.deepEqual(t.shape, row.shape, `${row.name} shape`);
    const want = readFileSync(join(dir, row.file));
    // Byte equality: float conversions must be exact, views must be copied in order.
    assert.ok(bytesOf(t).equals(want), `${fixture}: values of ${row.name} differ from torch's`);
  }
}

function assertRefused(fixture: string, pattern: RegExp): WeightsError {
  const file = join(dir, fixture);
  let caught: unknown;
  try {
    readPth(readFileSync(file), { fileName: file });
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof WeightsError, `${fixture}: expected a WeightsError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

describe('weights: .pth reader', { skip }, () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'headstart-pth-'));
    const r = spawnSync(PYTHON, ['scripts/weights_make_pth.py', dir, join(dir, 'pwned')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `fixture script failed: ${r.stderr}`);
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('every dtype, views, shared storage, parameters, 0-d and empty tensors match torch', () => {
    expectMatches('plain');
  });

  test('a module state dict (BatchNorm buffers, num_batches_tracked) matches torch', () => {
    expectMatches('model');
  });

  test('pickle protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL) matches torch', () => {
    expectMatches('proto4');
  });

  test('a {"state_dict": ...} checkpoint with a module. prefix is unwrapped', () => {
    expectMatches('wrapped');
    const ck = readPthCheckpoint(readFileSync(join(dir, 'wrapped.pth')));
    assert.deepEqual(ck.path, ['state_dict']);
    assert.equal(ck.strippedPrefix, 'module.');
    const kept = readPth(readFileSync(join(dir, 'wrapped.pth')), { stripPrefix: false });
    assert.ok([...kept.keys()].every((k) => k.startsWith('module.')));
  });

  test('a {"model": ..., "optimizer": ...} checkpoint yields the model', () => {
    expectMatches('model_key');
    const opt = readPthCheckpoint(readFileSync(join(dir, 'model_key.pth')), { key: 'optimizer' });
    assert.deepEqual(opt.path, ['optimizer']);
    assert.ok(opt.tensors.size > 0, 'momentum buffers are tensors too');
    assert.throws(() => readPth(readFileSync(join(dir, 'model_key.pth')), { key: 'nope' }), { code: 'E_BAD_OPTION', message: /has no key `nope` \(top-level keys: model, optimizer\)/ });
  });

  test('loadPth reads from a path and names a missing file', async () => {
    const t = await loadPth(join(dir, 'model.pth'));
    assert.equal(t.size, manifest.model.length);
    await assert.rejects(loadPth(join(dir, 'missing.pth')), (e: unknown) => e instanceof IOError && e.code === 'E_NOT_FOUND' && /missing\.pth.*ENOENT/.test(e.message));
  });

  test('malicious pickles are refused, naming the global, and nothing runs', () => {
    const marker = join(dir, 'pwned');
    assertRefused('evil_os.pth', /refusing the pickled global `os\.system`/);
    assertRefused('evil_pickle.pth', /refusing the pickled global `posix\.system`/);
    assertRefused('evil_eval.pth', /refusing the pickled global `builtins\.eval`/);
    assert.equal(existsSync(marker), false, 'the payload must never run');
  });

  test('other globals (argparse.Namespace) are refused with a re-save hint', () => {
    const e = assertRefused('namespace.pth', /`argparse\.Namespace`/);
    assert.match(e.hint ?? '', /torch\.save\(model\.state_dict\(\)/);
  });

  test('the legacy format gets an error saying how to re-save', () => {
    const e = assertRefused('legacy.pth', /legacy \(pre-1\.6\) serialization format/);
    assert.match(e.hint ?? '', /_use_new_zipfile_serialization=True/);
    assert.match(e.hint ?? '', /torch\.save\(torch\.load\('legacy\.pth', map_location='cpu'\), 'resaved\.pth'\)/);
  });

  test('a TorchScript archive is recognised', () => {
    const file = join(dir, 'scripted.pt');
    assert.throws(() => readPth(readFileSync(file), { fileName: file }), { code: 'E_BAD_WEIGHTS', message: /TorchScript archive/ });
  });

  test('a truncated file is a clear error', () => {
    const bytes = readFileSync(join(dir, 'model.pth'));
    assert.throws(
      () => readPth(bytes.subarray(0, bytes.length - 100), { fileName: 'cut.pth' }),
      (e: unknown) => e instanceof WeightsError && e.code === 'E_BAD_WEIGHTS' && /`cut\.pth` is a damaged zip archive/.test(e.message),
    );
  });
});

describe('weights: .pth reader, synthetic archives', () => {
  const pickled = (pkl: number[], extra: Record<string, Uint8Array> = {}): Uint8Array =>
    zipSync({ 'archive/data.pkl': Uint8Array.from(pkl), 'archive/version': new TextEncoder().encode('3\n'), ...extra }, { level: 0 });
  const str = (s: string): number[] => [...Buffer.from(s, 'latin1')];
  const binunicode = (s: string): number[] => [0x58, s.length, 0, 0, 0, ...str(s)];

  test('a tensor view reaching past its storage is refused', () => {
    // {'w': _rebuild_tensor_v2(storage(FloatStorage, '0', 'cpu', 2), 0, (3,), (1,), False, OrderedDict())}
    const pkl = [
      0x80,
      2,
      0x7d,
      0x28,
      ...binunicode('w'),
      0x63,
      ...str('torch._utils\n_rebuild_tensor_v2\n'),
      0x28,
      0x28,
      ...binunicode('storage'),
      0x63,
      ...str('torch\nFloatStorage\n'),
      ...binunicode('0'),
      ...binunicode('cpu'),
      0x4b,
      2,
      0x74,
      0x51,
      0x4b,
      0,
      0x4b,
      3,
      0x85,
      0x4b,
      1,
      0x85,
      0x89,
      0x63,
      ...str('collections\nOrderedDict\n'),
      0x29,
      0x52,
      0x74,
      0x52,
      0x75,
      0x2e,
    ];
    const bytes = pickled(pkl, { 'archive/data/0': new Uint8Array(8) });
    assert.throws(() => readPth(bytes), { code: 'E_BAD_WEIGHTS', message: /Tensor `w`: reads element 2 of a storage of 2 float32 elements/ });
    // The same pickle over a storage that is large enough loads.
    const ok = readPth(pickled(pkl, { 'archive/data/0': new Uint8Array(new Float32Array([1, 2, 3]).buffer) }));
    assert.deepEqual([...(ok.get('w')!.data as Float32Array)], [1, 2, 3]);
  });

  test('a missing storage record, a bad opcode and a non-torch file are clear errors', () => {
    const pkl = [
      0x80,
      2,
      0x7d,
      0x28,
      ...binunicode('w'),
      0x63,
      ...str('torch._utils\n_rebuild_tensor\n'),
      0x28,
      0x28,
      ...binunicode('storage'),
      0x63,
      ...str('torch\nFloatStorage\n'),
      ...binunicode('7'),
      ...binunicode('cpu'),
      0x4b,
      1,
      0x74,
      0x51,
      0x4b,
      0,
      0x29,
      0x29,
      0x74,
      0x52,
      0x75,
      0x2e,
    ];
    assert.throws(() => readPth(pickled(pkl)), { code: 'E_BAD_WEIGHTS', message: /tensor `w` refers to storage 7, which is missing/ });
    assert.throws(() => readPth(pickled([0x80, 2, 0x82, 1, 0x2e])), { code: 'E_BAD_WEIGHTS', message: /unsupported pickle opcode 0x82 at byte 2/ });
    assert.throws(() => readPth(pickled([0x80, 2, 0x7d])), { code: 'E_BAD_WEIGHTS', message: /truncated pickle|STOP|underflow/ });
    assert.throws(() => readPth(new TextEncoder().encode('hello world'), { fileName: 'x.bin' }), { code: 'E_BAD_WEIGHTS', message: /`x\.bin` is not a PyTorch zip checkpoint/ });
  });

  test('big-endian storages (byteorder record) are byte-swapped', () => {
    // {'w': _rebuild_tensor_v2(storage(FloatStorage, '0', 'cpu', 2), 0, (2,), (1,), False, OrderedDict())}
    const pkl = [
      0x80,
      2,
      0x7d,
      0x28,
      ...binunicode('w'),
      0x63,
      ...str('torch._utils\n_rebuild_tensor_v2\n'),
      0x28,
      0x28,
      ...binunicode('storage'),
      0x63,
      ...str('torch\nFloatStorage\n'),
      ...binunicode('0'),
      ...binunicode('cpu'),
      0x4b,
      2,
      0x74,
      0x51,
      0x4b,
      0,
      0x4b,
      2,
      0x85,
      0x4b,
      1,
      0x85,
      0x89,
      0x63,
      ...str('collections\nOrderedDict\n'),
      0x29,
      0x52,
      0x74,
      0x52,
      0x75,
      0x2e,
    ];
    const be = new Uint8Array(8);
    new DataView(be.buffer).setFloat32(0, 1.5, false);
    new DataView(be.buffer).setFloat32(4, -2.25, false);
    const t = readPth(pickled(pkl, { 'archive/data/0': be, 'archive/byteorder': new TextEncoder().encode('big') }));
    assert.deepEqual([...(t.get('w')!.data as Float32Array)], [1.5, -2.25]);
  });

  test('_rebuild_from_type_v2 (torch >= 2) is accepted for plain tensors, refused for subclasses', () => {
    // {'w': _rebuild_from_type_v2(_rebuild_tensor_v2, <type>, (storage, 0, (2,), (1,), False, OrderedDict()), {})}
    const pkl = (typeModule: string, typeName: string) => [
      0x80,
      2,
      0x7d,
      0x28,
      ...binunicode('w'),
      0x63,
      ...str('torch._tensor\n_rebuild_from_type_v2\n'),
      0x28,
      0x63,
      ...str('torch._utils\n_rebuild_tensor_v2\n'),
      0x63,
      ...str(`${typeModule}\n${typeName}\n`),
      0x28,
      0x28,
      ...binunicode('storage'),
      0x63,
      ...str('torch\nFloatStorage\n'),
      ...binunicode('0'),
      ...binunicode('cpu'),
      0x4b,
      2,
      0x74,
      0x51,
      0x4b,
      0,
      0x4b,
      2,
      0x85,
      0x4b,
      1,
      0x85,
      0x89,
      0x63,
      ...str('collections\nOrderedDict\n'),
      0x29,
      0x52,
      0x74,
      0x7d,
      0x74,
      0x52,
      0x75,
      0x2e,
    ];
    const data = { 'archive/data/0': new Uint8Array(new Float32Array([4, 5]).buffer) };
    assert.deepEqual([...(readPth(pickled(pkl('torch', 'Tensor'), data)).get('w')!.data as Float32Array)], [4, 5]);
    assert.deepEqual([...(readPth(pickled(pkl('torch.nn.parameter', 'Parameter'), data)).get('w')!.data as Float32Array)], [4, 5]);
    assert.throws(() => readPth(pickled(pkl('mylib', 'FancyTensor'), data)), { code: 'E_UNSAFE_WEIGHTS', message: /refusing the pickled global `mylib\.FancyTensor`/ });
  });

  test('a dict that contains itself terminates', () => {
    // d = {}; d['self'] = d  (EMPTY_DICT, BINPUT 0, 'self', BINGET 0, SETITEM)
    const pkl = [0x80, 2, 0x7d, 0x71, 0, ...binunicode('self'), 0x68, 0, 0x73, 0x2e];
    assert.throws(() => readPth(pickled(pkl), { fileName: 'loop.pth' }), { code: 'E_BAD_WEIGHTS', message: /`loop\.pth` holds no tensors \(top-level keys: self\)/ });
  });

  test('unknown reader options are rejected', () => {
    assert.throws(() => readPth(new Uint8Array(0), { nope: 1 } as never), { code: 'E_BAD_OPTION', message: /Invalid \.pth reader options/ });
  });
});
