import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { zipSync } from 'fflate';
import { WeightsError } from '../src/errors.js';
import { loadWeightsFile } from '../src/weights/load-weights-file.js';
import { writeSafetensors } from '../src/weights/safetensors.js';

describe('weights: loading a --weights file by its content', () => {
  test('safetensors and torch zip files are told apart by their bytes, not their names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'headstart-wf-'));
    try {
      const st = join(dir, 'weights.pth'); // misleading extension on purpose
      writeFileSync(st, writeSafetensors(new Map([['fc.bias', { dtype: 'float32', shape: [2], data: Float32Array.from([1, 2]) }]])));
      assert.deepEqual([...((await loadWeightsFile(st)).get('fc.bias')!.data as Float32Array)], [1, 2]);

      // A minimal torch.save zip: {'b': _rebuild_tensor_v2(storage, 0, (1,), (1,), False, OrderedDict())}
      const s = (x: string) => [...Buffer.from(x, 'latin1')];
      const u = (x: string) => [0x58, x.length, 0, 0, 0, ...s(x)];
      const pkl = [
        0x80,
        2,
        0x7d,
        0x28,
        ...u('b'),
        0x63,
        ...s('torch._utils\n_rebuild_tensor_v2\n'),
        0x28,
        0x28,
        ...u('storage'),
        0x63,
        ...s('torch\nFloatStorage\n'),
        ...u('0'),
        ...u('cpu'),
        0x4b,
        1,
        0x74,
        0x51,
        0x4b,
        0,
        0x4b,
        1,
        0x85,
        0x4b,
        1,
        0x85,
        0x89,
        0x63,
        ...s('collections\nOrderedDict\n'),
        0x29,
        0x52,
        0x74,
        0x52,
        0x75,
        0x2e,
      ];
      const pth = join(dir, 'weights.safetensors');
      writeFileSync(pth, zipSync({ 'archive/data.pkl': Uint8Array.from(pkl), 'archive/data/0': new Uint8Array(new Float32Array([7]).buffer) }, { level: 0 }));
      assert.deepEqual([...((await loadWeightsFile(pth)).get('b')!.data as Float32Array)], [7]);

      writeFileSync(join(dir, 'junk'), 'hello');
      await assert.rejects(loadWeightsFile(join(dir, 'junk')), (e: unknown) => e instanceof WeightsError && e.code === 'E_BAD_WEIGHTS' && /holds text, not weights \("hello"\)/.test(e.message));
      writeFileSync(join(dir, 'binary-junk'), Buffer.from([0, 1, 2, 3, 250, 251]));
      await assert.rejects(loadWeightsFile(join(dir, 'binary-junk')), (e: unknown) => e instanceof WeightsError && e.code === 'E_BAD_WEIGHTS' && /is not a PyTorch zip checkpoint/.test(e.message));
      await assert.rejects(loadWeightsFile(join(dir, 'none.pth')), { code: 'E_NOT_FOUND', name: 'IOError', message: /Cannot read weight file .*none\.pth.*ENOENT/ });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
