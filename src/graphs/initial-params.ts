/**
 * The starting weights of a run: the pretrained backbone (a --weights file, the model's
 * builtin weights, or its first download source, fetched into the cache with a sha256
 * check), and a new classifier for the dataset's classes, initialised like torch.nn.Linear
 * from the run's seed. A checkpoint whose classifier already has the right class count
 * keeps it. Every note worth telling the user comes back in `notes`.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WeightsError } from '../errors.js';
import { initParams } from '../models/init-params.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { NamedTensors } from '../tensor.js';
import { resolveWeightsFile } from '../weights/download.js';
import { loadWeightsFile } from '../weights/load-weights-file.js';
import { matchStateDict } from '../weights/load-state.js';
import { headParamNames, networkParamDefs } from './network-params.js';

export interface InitialParamsOptions {
  /** A weight file, 'none' (random initialisation), or undefined (the model's own weights). */
  weights?: string;
  numClasses: number;
  inputSize?: number;
  seed: number;
  onDownloadProgress?: (bytes: number, total: number | undefined) => void;
}

export interface InitialParams {
  params: NamedTensors;
  /** Identifies the weights (feature cache key, config.json). */
  weightsId: string;
  /** Human description of where the weights came from. */
  weightsLabel: string;
  notes: string[];
}

export async function loadInitialParams(spec: ModelSpec, o: InitialParamsOptions): Promise<InitialParams> {
  const defs = networkParamDefs(spec, o.numClasses, o.inputSize);
  const expected = new Map(defs.map((d) => [d.name, d.shape] as const));
  const heads = headParamNames(spec);
  const notes: string[] = [];
  let loaded: NamedTensors | undefined;
  let weightsId: string;
  let weightsLabel: string;
  if (o.weights === 'none') {
    weightsId = `none:${o.seed}`;
    weightsLabel = 'random initialisation';
    notes.push(`${spec.name}: no pretrained weights (--weights none): every parameter is initialised at random from seed ${o.seed}`);
  } else if (o.weights !== undefined) {
    const path = await resolveWeightsFile(o.weights, undefined);
    const st = await stat(path);
    loaded = await loadWeightsFile(path);
    weightsId = `file:${resolve(path)}:${st.size}:${st.mtimeMs}`;
    weightsLabel = path;
  } else if (spec.builtinWeights) {
    loaded = await spec.builtinWeights.load();
    weightsId = `builtin:${spec.name}:${spec.builtinWeights.id}`;
    weightsLabel = spec.builtinWeights.description;
  } else if (spec.weights.length > 0) {
    const source = spec.weights[0];
    const path = await resolveWeightsFile(undefined, { url: source.url, sha256: source.sha256, licence: source.license }, o.onDownloadProgress ? { onProgress: o.onDownloadProgress } : undefined);
    loaded = await loadWeightsFile(path);
    weightsId = `${spec.name}:${source.id}:${source.sha256}`;
    weightsLabel = `${source.id} (${source.url})`;
  } else {
    throw new WeightsError('E_NO_WEIGHTS', `Model \`${spec.name}\` has no pretrained weights to download`, {
      hint: 'pass a weight file with --weights <file>, or --weights none to train from random initialisation',
    });
  }

  const params: NamedTensors = new Map();
  let missing = defs.map((d) => d.name);
  if (loaded) {
    const match = matchStateDict(expected, loaded, { classifierNames: heads });
    for (const [name, t] of match.tensors) {
      // A fresh, owned float32 copy: training updates it in place.
      const data = Float32Array.from(t.data as ArrayLike<number>);
      params.set(name, { dtype: 'float32', shape: [...expected.get(name)!], data });
    }
    missing = defs.map((d) => d.name).filter((n) => !params.has(n));
    notes.push(...match.notes.filter((n) => !n.includes('keep their initial values')));
    const backboneMissing = missing.filter((n) => !heads.includes(n));
    if (backboneMissing.length > 0) {
      throw new WeightsError(
        'E_WEIGHTS_MISMATCH',
        `The weights of ${weightsLabel} lack ${backboneMissing.length} parameter(s) of ${spec.name}: ${backboneMissing.slice(0, 5).map((n) => `\`${n}\``).join(', ')}${backboneMissing.length > 5 ? ' ...' : ''}`,
        { hint: 'the weights were saved from another architecture: check --model and --weights' },
      );
    }
    if (match.reinitialised.length === 0 && missing.some((n) => heads.includes(n))) {
      notes.push(`The classifier \`${spec.head.name}\` is new (${o.numClasses} outputs): initialised like torch.nn.Linear from seed ${o.seed}`);
    }
  }
  const fresh = initParams(defs.filter((d) => missing.includes(d.name)), o.seed);
  for (const d of defs) if (!params.has(d.name)) params.set(d.name, fresh.get(d.name)!);
  // Keep the network's declaration order.
  const ordered: NamedTensors = new Map(defs.map((d) => [d.name, params.get(d.name)!]));
  return { params: ordered, weightsId, weightsLabel, notes };
}
