import type { ModelSpec } from '../models/model-spec.js';
import type { ParamCount } from './param-count.js';
import { countParams } from './param-count.js';
import { backboneStages } from '../models/trainable.js';

/** Where one set of pretrained weights comes from. */
export interface WeightSummary {
  id: string;
  /** 'download': a file fetched (and sha256-checked) on first use; 'builtin': ships with headstart's dependencies. */
  kind: 'download' | 'builtin';
  url?: string;
  /** Full digest or the prefix torchvision's file names carry. */
  sha256?: string;
  format?: string;
  /** Class count of the checkpoint's own classifier. */
  numClasses?: number;
  license: string;
  description?: string;
  default: boolean;
}

/** What `headstart models` shows about one architecture (plain data, JSON-ready). */
export interface ModelSummary {
  name: string;
  description: string;
  featureDim: number;
  head: { name: string; dropout: number };
  stages: number;
  input: { size: number; resize: number; interpolation: string; mean: number[]; std: number[] };
  /** Parameter counts with a 1000-class head (or the default checkpoint's class count); undefined where the graph could not be built. */
  params?: ParamCount;
  /** Why `params` is missing. */
  paramsError?: string;
  weights: WeightSummary[];
}

export function summarizeModel(spec: ModelSpec): ModelSummary {
  let params: ParamCount | undefined;
  let paramsError: string | undefined;
  try {
    params = countParams(spec);
  } catch (err) {
    paramsError = (err as Error).message;
  }
  const weights: WeightSummary[] = [];
  if (spec.builtinWeights) {
    const w = spec.builtinWeights;
    weights.push({ id: w.id, kind: 'builtin', license: w.license, description: w.description, default: true });
  }
  spec.weights.forEach((w, i) =>
    weights.push({ id: w.id, kind: 'download', url: w.url, sha256: w.sha256, format: w.format, numClasses: w.numClasses, license: w.license, default: !spec.builtinWeights && i === 0 }),
  );
  const p = spec.preprocess;
  return {
    name: spec.name,
    description: spec.description,
    featureDim: spec.featureDim,
    head: { ...spec.head },
    stages: backboneStages(spec).length,
    input: { size: p.inputSize, resize: p.resizeSize, interpolation: p.interpolation, mean: [...p.mean], std: [...p.std] },
    ...(params ? { params } : { paramsError }),
    weights,
  };
}
