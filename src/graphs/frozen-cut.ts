/**
 * Cached partial fine-tuning's graphs (--unfreeze-last K --cache-frozen): the network cut where
 * the frozen stages end. The frozen stages (BatchNorm in inference mode, weights embedded) are
 * a pure function of the image, so their output — the "cut": the values computed from the
 * images alone that a node depending on a trainable parameter reads — can be computed once per
 * image and cached (src/train/feature-cache.ts, as features). Three graphs come out:
 *   - prefix: images [N, 3, S, S] -> the cut values, flattened and concatenated, as `features`
 *     (dynamic batch; the feature cache runs it);
 *   - training suffix: the training graph with the cut values as inputs instead of the images
 *     (same loss, gradients and running statistics as the whole graph);
 *   - eval suffix: the inference graph likewise.
 * Frozen and live are decided by data flow, not by names: a node is frozen when it reads the
 * images (directly or not) and no other graph input (parameters fed at every run, targets,
 * dropout masks).
 */
import { Graph, type Node } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import { serializeModel } from '../onnx/serialize.js';
import { GraphError } from '../errors.js';
import type { ModelSpec } from '../models/model-spec.js';
import { resolveBnMomentum } from '../models/bn-momentum.js';
import { NetBuilder } from '../models/net-builder.js';
import type { HostTensor, NamedTensors } from '../tensor.js';
import { appendTrainingOutputs, buildNetwork, IO, type BuiltGraph, type TrainingGraph, type TrainingGraphOptions } from './network-graph.js';

/** One cut value: its name in a graph and its per-image shape. */
export interface CutValue {
  name: string;
  shape: number[];
  /** Floats per image. */
  size: number;
}

interface Split {
  cut: CutValue[];
  prefix: Graph;
  suffix: Graph;
}

function subgraph(g: Graph, nodes: Node[], inputs: string[], outputs: string[]): Graph {
  const out = new Graph();
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.inputs) used.add(i);
  for (const i of inputs) out.inputs.push({ ...g.info(i) });
  for (const [name, t] of g.initializers) if (used.has(name)) out.initializers.set(name, t);
  for (const [name, v] of g.values) out.values.set(name, v);
  for (const [name, note] of g.notes) out.notes.set(name, note);
  out.reserve(g.values.keys());
  out.reserve(nodes.map((n) => n.name));
  out.nodes.push(...nodes);
  for (const o of outputs) out.output(o);
  return out;
}

/** The nodes needed to compute `targets` among `candidates` (in graph order). */
function needed(candidates: readonly Node[], targets: Iterable<string>): Node[] {
  const producer = new Map<string, Node>();
  for (const n of candidates) for (const o of n.outputs) producer.set(o, n);
  const keep = new Set<Node>();
  const stack = [...targets];
  while (stack.length) {
    const n = producer.get(stack.pop()!);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    stack.push(...n.inputs);
  }
  return candidates.filter((n) => keep.has(n));
}

/**
 * True when a node mixes the samples of a batch: BatchNormalization on batch statistics, the first
 * step of a two-step sum over the batch (noted `batchReduction` by sumOverNHW), or an
 * op that takes a value with the batch as its leading axis and gives one without (a reduction
 * over the batch). Such values cannot be cached per image.
 */
function mixesBatch(g: Graph, n: Node, batch: number): boolean {
  if (n.op === 'BatchNormalization' && n.attrs.training_mode === 1) return true;
  if (g.notes.get(n.name)?.batchReduction === true) return true;
  const batched = n.inputs.some((i) => i !== '' && g.values.get(i)?.shape[0] === batch);
  return batched && n.outputs.some((o) => g.values.get(o)?.shape[0] !== batch);
}

function split(g: Graph, images: string): Split {
  const batch = g.shape(images)[0];
  const fromImages = new Set([images]);
  const fromLive = new Set(g.inputs.map((i) => i.name).filter((n) => n !== images));
  const mixed = new Set<string>();
  const frozen = new Set<Node>();
  for (const n of g.nodes) {
    const img = n.inputs.some((i) => fromImages.has(i));
    const live = n.inputs.some((i) => fromLive.has(i));
    const mix = img && (n.inputs.some((i) => mixed.has(i)) || mixesBatch(g, n, batch));
    for (const o of n.outputs) {
      if (img) fromImages.add(o);
      if (live) fromLive.add(o);
      if (mix) mixed.add(o);
    }
    if (img && !live && !mix) frozen.add(n);
  }
  const frozenValues = new Set([...frozen].flatMap((n) => n.outputs));
  const cutNames: string[] = [];
  for (const n of g.nodes) {
    if (frozen.has(n)) continue;
    for (const i of n.inputs) {
      if (frozenValues.has(i) && !cutNames.includes(i)) cutNames.push(i);
    }
  }
  for (const o of g.outputs) if (frozenValues.has(o.name) && !cutNames.includes(o.name)) cutNames.push(o.name);
  // In the order they are computed, the same in the training and the eval graph.
  const order = new Map(g.nodes.flatMap((n, i) => n.outputs.map((o) => [o, i] as const)));
  cutNames.sort((x, y) => order.get(x)! - order.get(y)!);
  if (cutNames.length === 0) throw new GraphError('E_INTERNAL', 'frozen-cut: no value separates the frozen stages from the trainable ones (a bug in headstart: please report it)');
  const cut = cutNames.map((name) => {
    const shape = g.shape(name).slice(1);
    return { name, shape, size: shape.reduce((a, b) => a * b, 1) };
  });
  const outputs = g.outputs.map((o) => o.name);
  const live = g.nodes.filter((n) => !frozen.has(n));
  const suffixNodes = needed(live, outputs);
  const suffixInputs = [...g.inputs.map((i) => i.name).filter((n) => n !== images), ...cutNames];
  const prefixNodes = needed(
    g.nodes.filter((n) => frozen.has(n) || !n.inputs.some((i) => fromLive.has(i) || fromImages.has(i))),
    cutNames,
  );
  return { cut, prefix: subgraph(g, prefixNodes, [images], []), suffix: subgraph(g, suffixNodes, suffixInputs, outputs) };
}

export interface FrozenCut {
  /** The cut values of the training graph, in the order the prefix concatenates them. */
  cut: CutValue[];
  /** Floats per image in the prefix's `features` output. */
  dim: number;
  /** images -> features (the concatenated cut values), dynamic batch. */
  prefix: Uint8Array;
  /** The training suffix for a batch size (cut values as inputs named as in `cut`). */
  training(batch: number): TrainingGraph;
  /** Eval-mode suffix, dynamic batch: cut values (named as `evalCut`) -> logits. */
  evalGraph: BuiltGraph;
  evalCut: CutValue[];
}

function trainingIR(spec: ModelSpec, o: TrainingGraphOptions) {
  const g = new Graph();
  const size = o.inputSize ?? spec.preprocess.inputSize;
  const images = g.input(IO.images, 'float32', [o.batch, 3, size, size]);
  const b = new NetBuilder(g, {
    mode: 'train',
    trainable: o.trainable,
    freezeBn: o.freezeBn,
    bnMomentum: o.bnMomentum ?? resolveBnMomentum(spec.bnMomentum, undefined).momentum,
    constants: o.constants,
    stochasticDepth: o.stochasticDepth ?? spec.stochasticDepth ?? 0,
  });
  const { logits } = buildNetwork(b, spec, images, o.numClasses);
  const trainable = appendTrainingOutputs(g, b, logits, o);
  for (const [p, value] of b.runningUpdates) g.output(g.alias(value, IO.running(p)));
  return { g, b, trainable };
}

/** The cut of `spec` for a run that trains `options.trainable` (every parameter's value in `options.constants`). */
export function buildFrozenCut(spec: ModelSpec, options: TrainingGraphOptions): FrozenCut {
  const trainingAt = (batch: number) => {
    const { g, b, trainable } = trainingIR(spec, { ...options, batch });
    const s = split(g, IO.images);
    return { s, b, trainable };
  };
  const main = trainingAt(options.batch);
  const fed = new Set(main.b.fed);
  const frozen: NamedTensors = new Map([...(options.constants ?? new Map<string, HostTensor>())].filter(([n]) => !fed.has(n)));
  const size = options.inputSize ?? spec.preprocess.inputSize;

  // The prefix, from the eval-mode network (frozen BatchNorm is in inference mode in both).
  const ev = new Graph();
  const evImages = ev.input(IO.images, 'float32', [-1, 3, size, size]);
  const eb = new NetBuilder(ev, { mode: 'eval', constants: frozen });
  const { logits } = buildNetwork(eb, spec, evImages, options.numClasses);
  ev.output(ev.alias(logits, IO.logits));
  const es = split(ev, IO.images);
  const same = es.cut.length === main.s.cut.length && es.cut.every((c, i) => c.size === main.s.cut[i].size && c.shape.join() === main.s.cut[i].shape.join());
  if (!same) {
    throw new GraphError(
      'E_INTERNAL',
      `frozen-cut: the eval graph's cut (${es.cut.map((c) => `[${c.shape}]`).join(', ')}) differs from the training graph's (${main.s.cut.map((c) => `[${c.shape}]`).join(', ')}) (a bug in headstart: please report it)`,
    );
  }
  const p = es.prefix;
  const flat = es.cut.map((c) => p.op('Flatten', [c.name], { axis: 1 }));
  p.output(p.alias(flat.length === 1 ? flat[0] : p.op('Concat', flat, { axis: 1 }), IO.features));

  const serialiseTraining = (t: ReturnType<typeof trainingAt>): TrainingGraph => ({
    bytes: serializeModel(t.s.suffix),
    params: t.b.params,
    fed: t.b.fed,
    trainable: t.trainable,
    running: [...t.b.runningUpdates.keys()],
    masks: t.b.masks,
    batch: t.s.suffix.info(t.s.cut[0].name).shape[0],
  });
  const mainGraph = serialiseTraining(main);
  return {
    cut: main.s.cut,
    dim: main.s.cut.reduce((n, c) => n + c.size, 0),
    prefix: serializeModel(p),
    training: (batch) => {
      if (batch === options.batch) return mainGraph;
      const t = trainingAt(batch);
      if (t.s.cut.map((c) => c.name).join() !== main.s.cut.map((c) => c.name).join()) throw new GraphError('E_INTERNAL', 'frozen-cut: the cut differs between batch sizes (a bug in headstart)');
      return serialiseTraining(t);
    },
    evalGraph: { bytes: serializeModel(es.suffix), params: eb.params, fed: eb.fed },
    evalCut: es.cut,
  };
}
