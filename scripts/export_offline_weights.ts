/**
 * Writes the offline backbone's weights as our importer produces them (src/models/keras-import.ts),
 * under headstart's parameter names, plus a new classifier `fc` initialised like torch.nn.Linear
 * from a seed: the starting point both headstart and the PyTorch twin
 * (scripts/mobilenet_v2_offline_twin.py) load, for parity tests and bench:e2e.
 *
 *   node --import tsx scripts/export_offline_weights.ts OUT.safetensors [CLASSES=4] [SEED=0]
 */
import { writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { buildInferenceGraph } from '../src/graphs/network-graph.js';
import { initParams } from '../src/models/init-params.js';
import { getModel } from '../src/models/registry.js';
import type { NamedTensors } from '../src/tensor.js';
import { writeSafetensors } from '../src/weights/safetensors.js';

/** The imported backbone and a seeded `fc`, in the network's declaration order. */
export async function offlineWeights(numClasses: number, seed: number): Promise<NamedTensors> {
  const spec = getModel('mobilenet_v2_offline');
  const backbone = await spec.builtinWeights!.load();
  const defs = buildInferenceGraph(spec, { batch: 1, numClasses }).params;
  const head = initParams(
    defs.filter((d) => !backbone.has(d.name)),
    seed,
  );
  return new Map(defs.map((d) => [d.name, backbone.get(d.name) ?? head.get(d.name)!]));
}

export async function writeOfflineWeights(path: string, numClasses: number, seed: number): Promise<NamedTensors> {
  const weights = await offlineWeights(numClasses, seed);
  await writeFile(path, writeSafetensors(weights));
  return weights;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [out, classes = '4', seed = '0'] = process.argv.slice(2);
  if (!out) throw new Error('usage: export_offline_weights.ts OUT.safetensors [CLASSES] [SEED]');
  const w = await writeOfflineWeights(out, Number(classes), Number(seed));
  console.log(JSON.stringify({ out, tensors: w.size }));
}
