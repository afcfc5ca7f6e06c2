/**
 * Where an epoch of --unfreeze-last 1 goes, cached (--cache-frozen) and not: CPU and wall
 * milliseconds per image of each part, measured alternately in one process (a development
 * tool; bench:cached-partial is the benchmark). ResNet18 at 224, random weights and images.
 * B=8 THREADS=2 ROUNDS=3 node --import tsx bench/profile-cached-partial.ts
 */
import os from 'node:os';
import { Session } from '../src/engine/session.js';
import { buildFrozenCut } from '../src/graphs/frozen-cut.js';
import { buildInferenceGraph, buildTrainingGraph, IO } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import { trainableFilter } from '../src/models/trainable.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { SGD } from '../src/optim/sgd.js';
import { cachedStep, cachedStepOutputs } from '../src/train/cached-partial-runner.js';

const spec = getModel(process.env.MODEL ?? 'resnet18');
const B = Number(process.env.B ?? 8);
const threads = Number(process.env.THREADS ?? 2);
const rounds = Number(process.env.ROUNDS ?? 3);
const S = spec.preprocess.inputSize;
const C = 10;
const trainable = trainableFilter(spec, { mode: 'finetune', unfreezeLast: 1 });
const probe = buildTrainingGraph(spec, { batch: B, numClasses: C, trainable: () => true });
const params = initParams(probe.params, 0);
const session = { threads };

const whole = buildTrainingGraph(spec, { batch: B, numClasses: C, trainable, constants: params });
const ts = await TrainingSession.create(whole, params, session);
const cut = buildFrozenCut(spec, { batch: B, numClasses: C, trainable, constants: params });
const cg = cut.training(B);

const cs = await Session.create(cg.bytes, { ...session, label: 'suffix' });
const prefix = await Session.create(cut.prefix, { ...session, label: 'prefix' });
const changing = new Set([...whole.trainable, ...whole.running]);
const frozen = new Map([...params].filter(([n]) => !changing.has(n)));
const evalWhole = buildInferenceGraph(spec, { batch: -1, numClasses: C, constants: frozen });
const ew = await Session.create(evalWhole.bytes, { ...session, label: 'eval' });
const evalShapes = new Map(cut.evalGraph.params.map((p) => [p.name, p.shape]));
const ec = await Session.create(cut.evalGraph.bytes, { ...session, label: 'eval suffix' });
const opt = new SGD([{ params: whole.trainable.map((name) => ({ name, data: params.get(name)!.data as Float32Array })) }], { lr: 1e-4, momentum: 0.9 });
const zeroGrads = new Map(whole.trainable.map((p) => [p, new Float32Array(params.get(p)!.data.length)]));
console.log(
  `${spec.name} ${S}px batch ${B}, ${threads} threads; trainable ${whole.trainable.length} tensors, ${whole.trainable.reduce((n, p) => n + params.get(p)!.data.length, 0)} floats; cut ${cut.cut.map((c) => `[${c.shape}]`).join(' ')} (${cut.dim} floats per image); load ${os.loadavg()[0].toFixed(2)}`,
);

const images = new Float32Array(B * 3 * S * S).map(() => Math.random() - 0.5);
const targets = crossEntropyCoefficients(
  Array.from({ length: B }, (_, i) => i % C),
  C,
);
const x = (await prefix.run({ [IO.images]: { dtype: 'float32', shape: [B, 3, S, S], data: images } }, [IO.features]))[IO.features].data as Float32Array;
const E = 32;
const outputs = cachedStepOutputs(cg, C);
const xE = new Float32Array(E * cut.dim);
for (let i = 0; i < E; i += B) xE.set(x, i * cut.dim);
const evalImages = new Float32Array(E * 3 * S * S).map(() => Math.random() - 0.5);
const evalFeeds = Object.fromEntries(evalWhole.fed.map((n) => [n, params.get(n)!]));

const cachedEval = (n: number, data: Float32Array, session = ec) => {
  const feeds: Record<string, never> = {};
  for (const name of cut.evalGraph.fed) feeds[name] = { dtype: 'float32', shape: evalShapes.get(name)!, data: params.get(name)!.data } as never;
  return session.run({ ...feeds, [cut.evalCut[0].name]: { dtype: 'float32', shape: [n, ...cut.evalCut[0].shape], data } }, [IO.logits]);
};
const parts: Record<string, { images: number; fn: () => Promise<unknown> }> = {
  'uncached train step (whole graph)': { images: B, fn: () => ts.step(images, targets) },
  'cached train step (suffix graph)': { images: B, fn: () => cachedStep(cs, cg, params, cut.cut, cut.dim, x, targets) },
  'cached train step, preallocated outputs': { images: B, fn: () => cachedStep(cs, cg, params, cut.cut, cut.dim, x, targets, undefined, outputs) },
  'optimizer step (SGD momentum)': {
    images: B,
    fn: async () => opt.step(zeroGrads),
  },
  'prefix (frozen stages, eval)': { images: B, fn: () => prefix.run({ [IO.images]: { dtype: 'float32', shape: [B, 3, S, S], data: images } }, [IO.features]) },
  [`uncached eval (batch ${E})`]: { images: E, fn: () => ew.run({ ...evalFeeds, [IO.images]: { dtype: 'float32', shape: [E, 3, S, S], data: evalImages } }, [IO.logits]) },
  [`cached eval (batch ${B})`]: { images: B, fn: () => cachedEval(B, x) },
  [`cached eval (batch ${E})`]: { images: E, fn: () => cachedEval(E, xE) },
};
const totals = new Map<string, { cpu: number; wall: number; images: number }>();
for (const p of Object.values(parts)) await p.fn(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const [name, p] of Object.entries(parts)) {
    const c0 = process.cpuUsage();
    const w0 = performance.now();
    await p.fn();
    const c = process.cpuUsage(c0);
    const t = totals.get(name) ?? { cpu: 0, wall: 0, images: 0 };
    t.cpu += (c.user + c.system) / 1000;
    t.wall += performance.now() - w0;
    t.images += p.images;
    totals.set(name, t);
  }
}
console.log('| part | CPU ms per image | wall ms per image |');
console.log('|---|---|---|');
for (const [name, t] of totals) console.log(`| ${name} | ${(t.cpu / t.images).toFixed(1)} | ${(t.wall / t.images).toFixed(1)} |`);
await Promise.all([ts.release(), cs.release(), prefix.release(), ew.release(), ec.release()]);

// PROFILE=1: ONNX Runtime's profile of the suffix training step (time per op type, slowest nodes).
if (process.env.PROFILE === '1') {
  const fs = await import('node:fs');
  const prefixPath = `/tmp/ortprof-suffix-${process.pid}`;
  const ps = await Session.create(cg.bytes, { ...session, label: 'suffix', profilePrefix: prefixPath });
  for (let i = 0; i < 3; i++) await cachedStep(ps, cg, params, cut.cut, cut.dim, x, targets);
  ps.endProfiling();
  const file = fs
    .readdirSync('/tmp')
    .filter((f) => f.startsWith(`ortprof-suffix-${process.pid}`))
    .map((f) => `/tmp/${f}`)
    .sort()
    .pop()!;
  await ps.release();
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; cat: string; ts: number; dur: number; args: { op_name: string } }[];
  const runs = events.filter((e) => e.name === 'model_run');
  const last = runs[runs.length - 1].ts;
  const byOp = new Map<string, number>();
  const byNode: [string, number][] = [];
  let total = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < last) continue;
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur);
    byNode.push([`${e.args.op_name} ${e.name.replace('_kernel_time', '')}`, e.dur]);
    total += e.dur;
  }
  console.log('suffix model_run ms', runs.map((r) => (r.dur / 1000).toFixed(0)).join(' '), 'sum of kernels', (total / 1000).toFixed(0));
  for (const [k, v] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${k.padEnd(24)} ${(v / 1000).toFixed(1)}`);
  console.log('--- top nodes');
  for (const [k, v] of byNode.sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${k.padEnd(70)} ${(v / 1000).toFixed(1)}`);
  fs.unlinkSync(file);
}
