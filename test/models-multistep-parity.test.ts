import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { fillDropoutMask } from '../src/graphs/dropout-mask.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { resolveBnMomentum } from '../src/models/bn-momentum.js';
import { listModels } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { SGD } from '../src/optim/sgd.js';
import { keyedRandom } from '../src/random.js';
import type { NamedTensors } from '../src/tensor.js';
import { loadSafetensors } from '../src/weights/safetensors.js';
import { matchStateDict } from '../src/weights/load-state.js';
import { relError } from './rel-error.js';

/**
 * Many training steps against PyTorch, for every registered model (torchvision's models
 * against torchvision, mobilenet_v2_offline against its twin, scripts/mobilenet_v2_offline_twin.py):
 * STEPS steps of SGD(lr, momentum 0.9) with BatchNorm in train mode, each on a fresh random
 * batch, at the BatchNorm momentum headstart's policy resolves for the model (the same on both
 * sides; for torchvision's models the test also checks the spec declares torchvision's own).
 * Then every running statistic, a sample of the weights and the eval-mode logits are compared
 * with torch float64 (scripts/models_multistep_reference.py). One train-mode step cannot catch
 * an error in the running statistics (they feed no output of that step); these comparisons do,
 * the eval-mode logits most directly (issue 9).
 * A model with stochastic depth (EfficientNet-B0, torchvision's 0.2) trains with it on: before the
 * reference runs, the row masks each step's keyed source draws are computed here (graph.masks, in the
 * order TrainingSession draws them) and handed to the script, which checks them against torchvision's
 * own schedule (the same blocks, every value 0 or 1/(1-p) with torchvision's p) and makes each
 * StochasticDepth multiply by them; the steps here pass the same keyed sources. (At 16 px over 20 steps
 * this model's fp32 drift is large: 39% of the tolerance with the right masks, 100% with each step given the
 * next step's masks; the sensitive check of the masks is the single step of test/models-parity.test.ts, which
 * such a mismatch fails by orders of magnitude.)
 * Tolerance (DESIGN.md): our relative error at most max(1e-4, 5 x torch fp32's own), torch's
 * own being that tensor's error or, if larger, the median over the model's compared tensors.
 * Inputs 16x16 (32x32 for the Keras network and ResNet18, see OWN_SIZE), batch 4 (every stage keeps >= 4 values per channel for BatchNorm; the float64
 * reference is what costs, ~1 GFLOP/s in Debian torch), 5 classes.
 */

const SIZE = 16;
/**
 * Keras's 'valid' stride-2 convolutions need a 32x32 input at least. ResNet18 at 16x16 leaves layer3 and layer4
 * 1x1 maps: train-mode BatchNorm then normalises 4 values per channel, an ill-conditioned step that amplifies
 * rounding, and after 20 steps every fp32 implementation drifts far from float64 (conv1.weight: torch fp32
 * 1.8e-4, ours 9.8e-4, 108% of the tolerance). At 32x32 the same case ends at 18% of it and at 64x64 at 5%,
 * so the drift was conditioning, not an error in a gradient rule (issue 9).
 */
const OWN_SIZE: Record<string, number> = { mobilenet_v2_offline: 32, resnet18: 32 };
const sizeOf = (name: string) => OWN_SIZE[name] ?? SIZE;
const BATCH = 4;
const CLASSES = 5;
const STEPS = 20;
const LR = 1e-4;

interface MultiStepRef {
  name: string;
  skip?: string;
  momentum: number;
  native_momenta: number[];
  labels: number[][];
  losses64: number[];
  params: string[];
  running: string[];
  torch32: { logits: number; final: Record<string, number> };
}

const allowed = (torch32: number) => Math.max(1e-4, 5 * torch32);

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)];
}

const torchCheck = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
const noTorch = torchCheck.status === 0 ? false : 'needs Debian python3-torch and python3-torchvision at /usr/bin/python3';

// MULTISTEP_MODELS=resnet18,mobilenet_v2_offline limits the run (debugging; CI runs them all).
const only = process.env.MULTISTEP_MODELS?.split(',');
const models = listModels().filter((m) => !only || only.includes(m.name));
const momentumOf = new Map(models.map((m) => [m.name, resolveBnMomentum(m.bnMomentum, undefined).momentum]));
// --freeze-bn (BatchNorm in inference mode, its affine parameters training) on the offline backbone.
const FROZEN = 'mobilenet_v2_offline';
const cases = [...models.map((spec) => ({ spec, frozen: false })), ...models.filter((m) => m.name === FROZEN).map((spec) => ({ spec, frozen: true }))];
const key = (c: { spec: { name: string }; frozen: boolean }) => (c.frozen ? `${c.spec.name}.frozen-bn` : c.spec.name);
const dir = mkdtempSync(path.join(os.tmpdir(), 'headstart-multistep-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The training graph of a case (head dropout off, as the reference: its mask covers no torch module to feed). */
const trainingGraph = (c: (typeof cases)[number]) =>
  buildTrainingGraph(
    { ...c.spec, head: { ...c.spec.head, dropout: 0 } },
    { batch: BATCH, numClasses: CLASSES, inputSize: sizeOf(c.spec.name), trainable: () => true, bnMomentum: momentumOf.get(c.spec.name)!, freezeBn: c.frozen },
  );
/** Step s's masks come from this keyed source, here and in the steps below. */
const maskSource = (s: number) => keyedRandom(17, s);
/** Stochastic depth's row masks per block, per step, as the steps will draw them; undefined for a model without. */
function stochasticDepthMasks(c: (typeof cases)[number]): Record<string, number[][]> | undefined {
  const masks = trainingGraph(c).masks;
  if (masks.length === 0) return undefined;
  const out: Record<string, number[][]> = Object.fromEntries(masks.map((m) => [m.name.replace(/^stochastic_depth:/, ''), []]));
  for (let s = 0; s < STEPS; s++) {
    const random = maskSource(s);
    for (const m of masks) out[m.name.replace(/^stochastic_depth:/, '')].push([...fillDropoutMask(new Float32Array(m.shape[0]), m.ratio, random)]);
  }
  return out;
}
const maskFiles = new Map<string, { file: string; masks: Record<string, number[][]> }>();
for (const c of cases) {
  const masks = stochasticDepthMasks(c);
  if (!masks) continue;
  const file = path.join(dir, `${key(c)}.masks.json`);
  writeFileSync(file, JSON.stringify(masks));
  maskFiles.set(key(c), { file, masks });
}

let refs = new Map<string, MultiStepRef>();
let scriptError: string | undefined;
if (!noTorch) {
  const args = [dir, SIZE, BATCH, CLASSES, 0, STEPS, LR].map(String);
  const run = spawnSync(
    '/usr/bin/python3',
    [
      'scripts/models_multistep_reference.py',
      ...args,
      ...cases.map((c) => `${c.spec.name}=${c.frozen ? 'frozen' : momentumOf.get(c.spec.name)}@${sizeOf(c.spec.name)}${maskFiles.has(key(c)) ? `+${maskFiles.get(key(c))!.file}` : ''}`),
    ],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
  if (run.status !== 0) scriptError = run.stderr;
  else refs = new Map((JSON.parse(run.stdout).models as MultiStepRef[]).map((m) => [m.name, m]));
}

function copyOf(tensors: NamedTensors): NamedTensors {
  return new Map([...tensors].map(([k, t]) => [k, { ...t, shape: [...t.shape], data: Float32Array.from(t.data as Float32Array) }]));
}

for (const c of cases) {
  const { spec, frozen } = c;
  const ref = refs.get(key(c));
  const skip = noTorch || (ref?.skip ? `${spec.name} has no PyTorch counterpart: ${ref.skip}` : false);

  const masked = maskFiles.get(key(c));
  const what = (frozen ? 'BatchNorm frozen (--freeze-bn)' : 'train-mode BatchNorm') + (masked ? ` and stochastic depth (torchvision's, fed the masks headstart draws)` : '');
  test(`${spec.name}: ${STEPS} SGD steps with ${what}, then running statistics, weights and eval logits match PyTorch`, { skip }, async (t) => {
    assert.equal(scriptError, undefined, `scripts/models_multistep_reference.py failed: ${scriptError}`);
    assert.ok(ref, `no reference for ${spec.name}`);
    const momentum = momentumOf.get(spec.name)!;
    assert.equal(ref.momentum, momentum);
    // A model that declares its own momentum declares the one its PyTorch definition uses.
    if (spec.bnMomentum !== undefined && !frozen)
      assert.deepEqual(ref.native_momenta, [spec.bnMomentum], `${spec.name}'s spec declares bnMomentum ${spec.bnMomentum}, torch builds it with ${ref.native_momenta}`);

    const SIZE = sizeOf(spec.name);
    const reference = await loadSafetensors(path.join(dir, `${key(c)}.multistep-ref.safetensors`));
    const inputs = reference.get('inputs')!.data as Float32Array;
    const perStep = BATCH * 3 * SIZE * SIZE;

    const graph = trainingGraph(c);
    if (masked) {
      // Stochastic depth is on, and it dropped some branches: the masks matter to this comparison.
      assert.ok(
        graph.masks.every((m) => m.name.startsWith('stochastic_depth:') && m.shape.join() === `${BATCH},1,1,1`),
        'only row masks',
      );
      const drops = Object.values(masked.masks)
        .flat(2)
        .filter((v) => v === 0).length;
      assert.ok(drops > 0, 'some residual branches are dropped over the steps');
      t.diagnostic(`stochastic depth: ${graph.masks.length} blocks, ${drops} of ${graph.masks.length * STEPS * BATCH} branch rows dropped`);
    }
    const expected = new Map(graph.params.map((p) => [p.name, p.shape]));
    const params = copyOf(matchStateDict(expected, await loadSafetensors(path.join(dir, `${key(c)}.multistep-state.safetensors`)), { strict: true }).tensors);
    const training = await TrainingSession.create(graph, params, { threads: 2 });
    if (frozen) assert.equal(graph.running.length, 0, 'no running statistic is updated with --freeze-bn');
    const optimizer = new SGD([{ params: graph.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: LR, momentum: 0.9 });
    const losses: number[] = [];
    for (let s = 0; s < STEPS; s++) {
      const r = await training.step(inputs.slice(s * perStep, (s + 1) * perStep), crossEntropyCoefficients(ref.labels[s], CLASSES), maskSource(s));
      optimizer.step(r.grads);
      losses.push(r.loss);
    }
    await training.release();

    const inference = buildInferenceGraph(spec, { batch: BATCH, numClasses: CLASSES, inputSize: SIZE, constants: params });
    const session = await Session.create(inference.bytes, { threads: 2 });
    const out = await session.run({ [IO.images]: { dtype: 'float32', shape: [BATCH, 3, SIZE, SIZE], data: reference.get('eval_input')!.data } });
    await session.release();

    const failures: string[] = [];
    let worstUse = 0;
    const check = (what: string, err: number, torch32: number) => {
      worstUse = Math.max(worstUse, err / allowed(torch32));
      if (!(err <= allowed(torch32))) failures.push(`${what}: relative error ${err.toExponential(2)} > ${allowed(torch32).toExponential(2)} (torch fp32: ${torch32.toExponential(2)})`);
    };
    const noise = median(Object.values(ref.torch32.final));
    const logitsError = relError(out[IO.logits].data as Float32Array, reference.get('logits64')!.data as Float32Array);
    check('eval logits after the steps', logitsError, Math.max(ref.torch32.logits, noise));
    let runningWorst = 0;
    for (const name of [...ref.running, ...ref.params]) {
      const err = relError(params.get(name)!.data as Float32Array, reference.get(`final64:${name}`)!.data as Float32Array);
      if (ref.running.includes(name)) runningWorst = Math.max(runningWorst, err);
      check(name, err, Math.max(ref.torch32.final[name], noise));
    }
    const lossDrift = Math.max(...losses.map((l, i) => Math.abs(l - ref.losses64[i]) / Math.abs(ref.losses64[i])));
    t.diagnostic(
      `momentum ${momentum}; loss ${ref.losses64[0].toFixed(3)} -> ${ref.losses64[STEPS - 1].toFixed(3)} (ours within ${lossDrift.toExponential(1)}); eval logits ${logitsError.toExponential(2)}, worst running stat ${runningWorst.toExponential(2)} from fp64 (${ref.running.length} tensors); worst ${(100 * worstUse).toFixed(0)}% of tolerance`,
    );
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} tensor(s) out of tolerance`);
  });
}
