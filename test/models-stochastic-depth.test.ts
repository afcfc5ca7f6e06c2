/**
 * Stochastic depth (torchvision's EfficientNet: row mode, p = 0.2 * block index / 16 on the residual blocks)
 * in headstart's training graphs (NetBuilder.stochasticDepth) and the native plan (its ROWSCALE op):
 *   - the masks a training graph declares: torchvision's blocks and probabilities, none in frozen blocks
 *     (headstart runs frozen layers in eval mode), none with --stochastic-depth 0;
 *   - eval graphs (and so model.onnx) do not change with it;
 *   - fed all-ones masks a step equals the step without stochastic depth, and a block whose mask is 0 for
 *     every sample gets no gradient (its branch is cut off), on ONNX Runtime and on the native engine.
 * That the masks are torchvision's, drawn from the step's keyed source, and give torchvision's training is
 * test/models-multistep-parity.test.ts (20 SGD steps against torchvision fed the same masks); that both
 * engines draw and apply the same masks is test/native-step.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Session } from '../src/engine/session.js';
import { NativePlan, nativePlanUnavailable } from '../src/engine/native-plan.js';
import { dropoutMask } from '../src/graphs/dropout-mask.js';
import { compileNativeNetwork } from '../src/graphs/native-training-session.js';
import { buildInferenceGraph, buildTrainingGraph, IO, type TrainingGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random } from '../src/random.js';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import { ConfigError } from '../src/errors.js';
import type { NamedTensors } from '../src/tensor.js';
import { relError } from './rel-error.js';

const spec = getModel('efficientnet_b0');
const B = 2;
const S = 64;
const K = 3;
// The head's dropout off: its mask is not what these tests look at.
const noHeadDropout = { ...spec, head: { ...spec.head, dropout: 0 } };
const options = { batch: B, numClasses: K, inputSize: S, trainable: () => true };
// torchvision: block k of the 16 (counted over every block) has p = 0.2 * k / 16; only residual blocks apply it.
const TORCHVISION_BLOCKS: Record<string, number> = {
  'features.2.1': 2,
  'features.3.1': 4,
  'features.4.1': 6,
  'features.4.2': 7,
  'features.5.1': 9,
  'features.5.2': 10,
  'features.6.1': 12,
  'features.6.2': 13,
  'features.6.3': 14,
};
const CUT = 'features.4.1';

const x = (() => {
  const r = new Random(3);
  return new Float32Array(B * 3 * S * S).map(() => r.uniform(-2, 2));
})();
const coeffs = crossEntropyCoefficients([0, 2], K);
const copy = (p: NamedTensors): NamedTensors => new Map([...p].map(([n, t]) => [n, { ...t, data: (t.data as Float32Array).slice() }]));
/** All masks 1, except the block `cut`'s, 0 for every sample. */
const maskValue = (name: string, cut?: string) => (name === `stochastic_depth:${cut}` ? 0 : 1);

test('efficientnet_b0 training graph: a row mask [N, 1, 1, 1] per residual block with torchvision p (spec 0.2, or the option); none with 0, none in frozen blocks', () => {
  assert.equal(spec.stochasticDepth, 0.2);
  for (const rate of [undefined, 0.5]) {
    const g = buildTrainingGraph(noHeadDropout, { ...options, stochasticDepth: rate });
    const got = Object.fromEntries(g.masks.map((m) => [m.name, m.ratio]));
    const want = Object.fromEntries(Object.entries(TORCHVISION_BLOCKS).map(([block, k]) => [`stochastic_depth:${block}`, ((rate ?? 0.2) * k) / 16]));
    assert.deepEqual(got, want);
    assert.ok(g.masks.every((m) => m.shape.join() === `${B},1,1,1`));
  }
  assert.deepEqual(buildTrainingGraph(noHeadDropout, { ...options, stochasticDepth: 0 }).masks, []);
  // --unfreeze-last: only the trained blocks (stage 6 on) drop their branches; the head's dropout is drawn last.
  const partial = buildTrainingGraph(spec, { ...options, trainable: (n) => /^(features\.[678]|classifier)/.test(n) });
  assert.deepEqual(
    partial.masks.map((m) => m.name),
    ['stochastic_depth:features.6.1', 'stochastic_depth:features.6.2', 'stochastic_depth:features.6.3', 'dropout_mask:3'],
  );
  // A model without stochastic depth has none, whatever the option says.
  assert.deepEqual(
    buildTrainingGraph(getModel('mobilenet_v2'), { ...options, stochasticDepth: 0.5 }).masks.map((m) => m.name),
    ['dropout_mask:0'],
  );
});

test("--stochastic-depth: the model's rate unless given (0 turns it off), recorded in the resolved config; 0 <= X < 1", () => {
  const resolved = (o: object, model = spec) => resolveTrainConfig(parseTrainOptions(o), 'finetune', model.name, 'none', model.bnMomentum, model.stochasticDepth ?? null).stochasticDepth;
  assert.equal(resolved({}), 0.2);
  assert.equal(resolved({ stochasticDepth: 0 }), 0);
  assert.equal(resolved({ stochasticDepth: 0.5 }), 0.5);
  assert.equal(resolved({}, getModel('resnet18')), 0);
  assert.equal(resolved({ stochasticDepth: 0 }, getModel('resnet18')), 0);
  // A model without stochastic-depth blocks: a positive rate would drop nothing, so it is refused, not ignored.
  assert.throws(
    () => resolved({ stochasticDepth: 0.2 }, getModel('resnet18')),
    (e: unknown) => e instanceof ConfigError && e.code === 'E_INCOMPATIBLE_OPTIONS' && /resnet18 has no stochastic-depth blocks/.test(e.message),
  );
  for (const bad of [-0.1, 1, 'x'])
    assert.throws(
      () => parseTrainOptions({ stochasticDepth: bad }),
      (e: unknown) => e instanceof ConfigError && e.code === 'E_BAD_OPTION' && /stochasticDepth|stochastic-depth/.test(e.message),
    );
});

test('eval graphs (model.onnx) do not change with stochastic depth', () => {
  const bytes = (s: typeof spec) => Buffer.from(buildInferenceGraph(s, { batch: -1, numClasses: K, inputSize: S }).bytes);
  assert.ok(bytes(spec).equals(bytes({ ...spec, stochasticDepth: 0 })));
  assert.ok(bytes(spec).equals(bytes({ ...spec, stochasticDepth: 0.9 })));
  assert.ok(!bytes(spec).includes('stochastic_depth'));
});

async function onnxStep(graph: TrainingGraph, params: NamedTensors, cut?: string) {
  const session = await Session.create(graph.bytes, { threads: 2 });
  const shapes = new Map(graph.params.map((p) => [p.name, p.shape]));
  const feeds = Object.fromEntries(graph.fed.map((n) => [n, { ...params.get(n)!, shape: shapes.get(n)! }]));
  for (const m of graph.masks) feeds[m.name] = { dtype: 'float32', shape: m.shape, data: new Float32Array(m.shape[0]).fill(maskValue(m.name, cut)) };
  feeds[IO.images] = { dtype: 'float32', shape: [B, 3, S, S], data: x };
  feeds[IO.targets] = { dtype: 'float32', shape: [B, K], data: coeffs };
  const out = await session.run(feeds, [IO.loss, ...graph.trainable.map(IO.grad)]);
  await session.release();
  return { loss: (out[IO.loss].data as Float32Array)[0], grads: new Map(graph.trainable.map((p) => [p, out[IO.grad(p)].data as Float32Array])) };
}

function assertCut(grads: ReadonlyMap<string, Float32Array>, engine: string): void {
  const inBlock = [...grads].filter(([n]) => n.startsWith(`${CUT}.`));
  assert.ok(inBlock.length > 0);
  for (const [n, g] of inBlock)
    assert.ok(
      g.every((v) => v === 0),
      `${engine}: ${n} gets a gradient through a branch whose mask is 0`,
    );
  const next = grads.get('features.4.2.block.0.0.weight')!;
  assert.ok(
    next.some((v) => v !== 0),
    `${engine}: the next block still trains`,
  );
}

test('ONNX step: all-ones masks = the step without stochastic depth; a block masked to 0 gets no gradient', async () => {
  const graph = buildTrainingGraph(noHeadDropout, { ...options, stochasticDepth: 0.5 });
  const none = buildTrainingGraph(noHeadDropout, { ...options, stochasticDepth: 0 });
  const params = initParams(graph.params, 5);
  const ones = await onnxStep(graph, copy(params));
  const ref = await onnxStep(none, copy(params));
  assert.ok(Math.abs(ones.loss - ref.loss) <= 1e-6 * Math.abs(ref.loss), `loss ${ones.loss} vs ${ref.loss}`);
  for (const [n, g] of ref.grads) assert.ok(relError(ones.grads.get(n)!, g) <= 1e-6, `gradient of ${n}`);
  const cut = await onnxStep(graph, copy(params), CUT);
  assertCut(cut.grads, 'ONNX');
  assert.notEqual(cut.loss, ones.loss);
});

const unavailable = nativePlanUnavailable();
test('native plan: all-ones row masks = the plan without stochastic depth; a block masked to 0 gets no gradient', { skip: unavailable ?? false }, async () => {
  const params = initParams(buildTrainingGraph(noHeadDropout, options).params, 5);
  const step = async (stochasticDepth: number, cut?: string) => {
    const net = compileNativeNetwork(noHeadDropout, { ...options, mode: 'train', stochasticDepth, threads: 1 });
    if ('unsupported' in net) assert.fail(net.unsupported);
    assert.equal(net.rowMasks?.length ?? 0, stochasticDepth > 0 ? Object.keys(TORCHVISION_BLOCKS).length : 0);
    const plan = NativePlan.create(net.plan);
    const own = copy(params);
    const trains = new Set(net.trainable);
    const grads = net.plan.params.map((n) => (trains.has(n) ? new Float32Array(own.get(n)!.data.length) : null));
    const rows = net.rowMasks ? Float32Array.from(net.rowMasks.flatMap((m) => Array<number>(B).fill(maskValue(m.name, cut)))) : null;
    const loss = new Float64Array(1);
    const logits = new Float32Array(B * K);
    const args = [x, coeffs, net.plan.params.map((n) => own.get(n)!.data as Float32Array), grads, logits, loss, null] as const;
    await plan.run(...args, rows);
    if (rows)
      await assert.rejects(plan.run(...args, null), (e: Error & { code?: string }) => e.code === 'E_BAD_ARGUMENT' || /rowMasks/.test(e.message), 'a plan with row masks refuses a step without them');
    plan.release();
    return { loss: loss[0], grads: new Map(net.plan.params.flatMap((n, i) => (grads[i] ? [[n, grads[i]]] : []))) };
  };
  const ref = await step(0);
  const ones = await step(0.5);
  assert.ok(Math.abs(ones.loss - ref.loss) <= 1e-6 * Math.abs(ref.loss), `loss ${ones.loss} vs ${ref.loss}`);
  for (const [n, g] of ref.grads) assert.ok(relError(ones.grads.get(n)!, g) <= 1e-6, `gradient of ${n}`);
  assertCut((await step(0.5, CUT)).grads, 'native');
  // A mask drawn with p = 0 keeps every row at 1: the all-ones case above.
  assert.deepEqual([...dropoutMask(8, 0, new Random(1))], Array<number>(8).fill(1));
});
