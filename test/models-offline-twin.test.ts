import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { keyedRandom } from '../src/random.js';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, IO } from '../src/graphs/network-graph.js';
import { getModel } from '../src/models/registry.js';
import { loadSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { writeOfflineWeights } from '../scripts/export_offline_weights.js';

/**
 * The PyTorch twin of the offline backbone (scripts/mobilenet_v2_offline_twin.py), loaded with
 * the weights our Keras importer produces, gives our eval graph's logits to 1e-4 at 224x224
 * (the real nsfwjs weights and running statistics, two images in [0, 1], a seeded new fc).
 * The twin is written by hand from the Keras topology, so this checks the importer (padding,
 * depthwise layout, BatchNorm eps) as well as the twin that the multi-step parity test and
 * bench:e2e rely on.
 */

const torchCheck = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
const skip = torchCheck.status === 0 ? false : 'needs Debian python3-torch at /usr/bin/python3';
const dir = mkdtempSync(path.join(os.tmpdir(), 'headstart-twin-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('mobilenet_v2_offline: the PyTorch twin on the imported weights gives our eval logits to 1e-4', { skip }, async (t) => {
  const spec = getModel('mobilenet_v2_offline');
  const N = 2;
  const K = 4;
  const S = 224;
  const weights = await writeOfflineWeights(path.join(dir, 'weights.safetensors'), K, 0);
  const random = keyedRandom(0, 0x7731);
  const images = Float32Array.from({ length: N * 3 * S * S }, () => random.next());
  await writeFile(path.join(dir, 'input.safetensors'), writeSafetensors(new Map([['input', { dtype: 'float32', shape: [N, 3, S, S], data: images }]])));
  const run = spawnSync(
    '/usr/bin/python3',
    ['scripts/mobilenet_v2_offline_twin.py', 'logits', path.join(dir, 'weights.safetensors'), path.join(dir, 'input.safetensors'), path.join(dir, 'out.safetensors')],
    { encoding: 'utf8' },
  );
  assert.equal(run.status, 0, `twin failed: ${run.stderr}`);
  const ref = await loadSafetensors(path.join(dir, 'out.safetensors'));

  const graph = buildInferenceGraph(spec, { batch: N, numClasses: K, constants: weights });
  const session = await Session.create(graph.bytes, { threads: 2 });
  const out = await session.run({ [IO.images]: { dtype: 'float32', shape: [N, 3, S, S], data: images } });
  await session.release();
  const ours = out[IO.logits].data as Float32Array;
  const theirs = ref.get('logits32')!.data as Float32Array;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ours.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
    scale = Math.max(scale, Math.abs(theirs[i]));
  }
  t.diagnostic(`max |logit| ${scale.toFixed(3)}, ours - twin fp32 ${diff.toExponential(2)}; twin fp32 - fp64 ${(JSON.parse(run.stdout) as { fp32_vs_fp64: number }).fp32_vs_fp64.toExponential(2)}`);
  assert.ok(scale > 0.05, 'logits are not trivially small');
  assert.ok(diff <= 1e-4, `eval logits differ from the twin by ${diff.toExponential(2)} > 1e-4`);
});
