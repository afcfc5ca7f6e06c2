/**
 * The starting parameters of a network, for training and for export alike: the pretrained
 * weights (a --weights file, the model's builtin weights, or its first download source,
 * fetched into the cache with a sha256 check), matched to the network's parameters, and a
 * classifier initialised like torch.nn.Linear from the seed where the weights have none or
 * one of another class count. It returns what happened as data; callers word it.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WeightsError } from '../errors.js';
import { initParams } from '../models/init-params.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { NamedTensors } from '../tensor.js';
import { resolveWeightsFile, type FetchWeightsOptions } from '../weights/download.js';
import type { ParamDef } from '../models/net-builder.js';
import { matchStateDict, type StateMatch } from '../weights/load-state.js';
import { loadWeightsFile } from '../weights/load-weights-file.js';
import { headParamNames, networkParamDefs } from './network-params.js';

export interface InitialParamsOptions {
  /** A weight file, 'none' (random initialisation), or undefined (the model's own weights). */
  weights?: string;
  /** Class count of the classifier; default: the weights' own classifier's. */
  numClasses?: number;
  inputSize?: number;
  seed: number;
  /** Only state-dict formats (.pth, .safetensors) may be downloaded (export writes them whole). */
  stateDictOnly?: boolean;
  fetch?: FetchWeightsOptions;
}

export interface WeightsOrigin {
  kind: 'none' | 'file' | 'builtin' | 'download';
  /** Identifies the weights (feature cache key). */
  id: string;
  /** Where they came from, in words (a path, a URL, a builtin's description). */
  label: string;
}

export interface InitialParams {
  /** Every parameter, in the network's declaration order; fresh float32 copies training may update. */
  params: NamedTensors;
  numClasses: number;
  origin: WeightsOrigin;
  /** Parameters taken from the weights. */
  loaded: number;
  /** The classifier's parameters, initialised from the seed (the weights had none, or another class count). */
  initialisedHead: string[];
  /** The class count of the weights' own classifier when it was replaced. */
  replacedHeadClasses: number | null;
  /** Tensors of the weights the network does not use. */
  unused: string[];
}

async function pretrained(spec: ModelSpec, o: InitialParamsOptions): Promise<{ loaded?: NamedTensors; origin: WeightsOrigin }> {
  if (o.weights === 'none') return { origin: { kind: 'none', id: `none:${o.seed}`, label: 'random initialisation' } };
  if (o.weights !== undefined) {
    const path = await resolveWeightsFile(o.weights, undefined, o.fetch);
    const st = await stat(path);
    return { loaded: await loadWeightsFile(path), origin: { kind: 'file', id: `file:${resolve(path)}:${st.size}:${st.mtimeMs}`, label: path } };
  }
  if (spec.builtinWeights) {
    const b = spec.builtinWeights;
    return { loaded: await b.load(), origin: { kind: 'builtin', id: `builtin:${spec.name}:${b.id}`, label: b.description } };
  }
  const source = spec.weights[0];
  if (!source) {
    throw new WeightsError('E_NO_WEIGHTS', `Model \`${spec.name}\` has no pretrained weights to download`, {
      hint: 'pass a weight file with --weights <file>, or --weights none to train from random initialisation',
    });
  }
  if (o.stateDictOnly && source.format !== 'pth' && source.format !== 'safetensors') {
    throw new WeightsError('E_NO_WEIGHTS', `${spec.name}'s known weights are in ${source.format} format, not a state dict`, { hint: 'pass a .pth or .safetensors state dict with --weights' });
  }
  const path = await resolveWeightsFile(undefined, { url: source.url, sha256: source.sha256, licence: source.license }, o.fetch);
  return { loaded: await loadWeightsFile(path), origin: { kind: 'download', id: `${spec.name}:${source.id}:${source.sha256}`, label: `${source.id} (${source.url})` } };
}

/** Matches a state dict to the network's parameters; throws when the backbone does not fit (another architecture). */
function assertBackboneFits(spec: ModelSpec, defs: readonly ParamDef[], loaded: NamedTensors, label: string, heads: readonly string[]): StateMatch {
  const match = matchStateDict(new Map(defs.map((d) => [d.name, d.shape] as const)), loaded, { classifierNames: [...heads] });
  const backboneMissing = defs.map((d) => d.name).filter((n) => !match.tensors.has(n) && !heads.includes(n));
  if (backboneMissing.length > 0) {
    throw new WeightsError(
      'E_WEIGHTS_MISMATCH',
      `The weights of ${label} lack ${backboneMissing.length} parameter(s) of ${spec.name}: ${backboneMissing
        .slice(0, 5)
        .map((n) => `\`${n}\``)
        .join(', ')}${backboneMissing.length > 5 ? ' ...' : ''}`,
      { hint: 'the weights were saved from another architecture: check --model and --weights' },
    );
  }
  return match;
}

export async function loadInitialParams(spec: ModelSpec, o: InitialParamsOptions): Promise<InitialParams> {
  const { loaded, origin } = await pretrained(spec, o);
  const heads = headParamNames(spec);
  const ownClasses = loaded?.get(`${spec.head.name}.weight`)?.shape[0];
  const numClasses = o.numClasses ?? ownClasses;
  if (numClasses === undefined) {
    // Weights of another architecture lack the classifier too: say that first (the class count would not help).
    if (loaded) assertBackboneFits(spec, networkParamDefs(spec, 1, o.inputSize), loaded, origin.label, heads);
    throw new WeightsError('E_WEIGHTS_MISMATCH', `The weights of ${spec.name} (${origin.label}) have no \`${spec.head.name}.weight\`: the class count is unknown`, {
      hint: 'give the class count with --num-classes (the classifier is then initialised like torch.nn.Linear)',
    });
  }
  const defs = networkParamDefs(spec, numClasses, o.inputSize);
  const expected = new Map(defs.map((d) => [d.name, d.shape] as const));
  const params: NamedTensors = new Map();
  let unused: string[] = [];
  let replacedHeadClasses: number | null = null;
  if (loaded) {
    const match = assertBackboneFits(spec, defs, loaded, origin.label, heads);
    for (const [name, t] of match.tensors) {
      // A fresh, owned float32 copy: training updates it in place.
      params.set(name, { dtype: 'float32', shape: [...expected.get(name)!], data: Float32Array.from(t.data as ArrayLike<number>) });
    }
    unused = match.unexpected;
    if (match.reinitialised.length > 0) replacedHeadClasses = ownClasses ?? null;
  }
  const fresh = defs.filter((d) => !params.has(d.name));
  const init = initParams(fresh, o.seed);
  for (const d of fresh) params.set(d.name, init.get(d.name)!);
  return {
    params: new Map(defs.map((d) => [d.name, params.get(d.name)!])),
    numClasses,
    origin,
    loaded: defs.length - fresh.length,
    initialisedHead: fresh.map((d) => d.name).filter((n) => heads.includes(n)),
    replacedHeadClasses,
    unused,
  };
}
