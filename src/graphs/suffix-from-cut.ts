/**
 * The part of a network graph that runs after a cut value (cached partial fine-tuning, frozen-cut.ts):
 * the nodes that compute `output` from `cut`, with `cut` a graph input in place of the images. The native
 * engine compiles it into a plan whose input is the cached activation [N, ...] instead of the image batch
 * (native-training-session.ts, option `cut`). Where the trainable stages also read another value computed
 * from the images (a cut of several values, as a residual skip path), there is no such graph: it says so,
 * and the caller keeps ONNX Runtime.
 */
import { Graph, type Node } from '../onnx/graph.js';

export function suffixFromCut(g: Graph, cut: string, images: string, output: string): Graph | { unsupported: string } {
  if (!g.has(cut)) return { unsupported: `the cut value \`${cut}\` is not a value of the network graph` };
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) producer.set(o, n);
  const keep = new Set<Node>();
  const stack = [output];
  const seen = new Set<string>();
  while (stack.length) {
    const v = stack.pop()!;
    if (v === cut || v === '' || seen.has(v)) continue;
    seen.add(v);
    if (v === images) return { unsupported: `the trainable stages read values computed from the images other than \`${cut}\` (the native plan takes one input)` };
    const n = producer.get(v);
    if (!n || keep.has(n)) continue;
    keep.add(n);
    stack.push(...n.inputs);
  }
  const out = new Graph();
  const used = new Set([...keep].flatMap((n) => n.inputs));
  for (const [name, v] of g.values) out.values.set(name, v);
  out.inputs.push({ ...g.info(cut) });
  for (const i of g.inputs) if (i.name !== images && used.has(i.name)) out.inputs.push({ ...i });
  for (const [name, t] of g.initializers) if (used.has(name)) out.initializers.set(name, t);
  out.nodes.push(...g.nodes.filter((n) => keep.has(n)));
  out.outputs.push(...g.outputs.map((o) => ({ ...o })));
  return out;
}
