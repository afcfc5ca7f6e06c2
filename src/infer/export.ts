/**
 * `headstart export`: a zoo architecture plus a weight file (or its known pretrained
 * weights) written as one standalone ONNX classifier. Its first input is the normalised
 * NCHW float32 image batch, its output the logits; the class count is the checkpoint's own
 * unless one is given, in which case the classifier is re-initialised like torch.nn.Linear.
 * The headstart metadata (classes, preprocessing) is stored too, so `headstart predict`
 * runs the file directly.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, WeightsError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { buildInferenceGraph } from '../graphs/network-graph.js';
import { initParams } from '../models/init-params.js';
import type { ModelSpec } from '../models/model-spec.js';
import { getModel } from '../models/registry.js';
import { isOnnxModelPath, onnxBackboneSpec } from '../models/onnx-backbone.js';
import type { NamedTensors } from '../tensor.js';
import { resolveWeightsFile, type FetchWeightsOptions } from '../weights/download.js';
import { matchStateDict } from '../weights/load-state.js';
import { loadWeightsFile } from '../weights/load-weights-file.js';
import { writeClassifier, type ClassifierMetadata } from './model-file.js';

const ExportOptionsSchema = z.strictObject({
  /** A local .pth/.pt or .safetensors file; default: the model's first known weight source (downloaded and cached). */
  weights: z.string().min(1).optional(),
  /** Class count of the exported classifier; default: the checkpoint's own. */
  numClasses: z.number().int().positive().optional(),
  /** Class names stored in the metadata (default: "0", "1", ...). */
  classes: z.array(z.string().min(1)).min(1).optional(),
  /** Seed of a re-initialised classifier. */
  seed: z.number().int().nonnegative().default(0),
  /** Receives one line per thing worth telling the user (a re-initialised classifier, unused tensors). */
  onNote: z.custom<(line: string) => void>((v) => typeof v === 'function', 'expected a function').optional(),
  /** Download options when the weights are fetched. */
  fetch: z.custom<FetchWeightsOptions>((v) => typeof v === 'object' && v !== null, 'expected an object').optional(),
});
export type ExportOptions = z.input<typeof ExportOptionsSchema>;

export interface ExportResult {
  path: string;
  model: string;
  weights: string;
  numClasses: number;
  /** Parameters loaded from the file, and those re-initialised. */
  loaded: number;
  reinitialised: string[];
  notes: string[];
  metadata: ClassifierMetadata;
}

function parseOptions(options: ExportOptions | undefined) {
  return parseOrThrow(ExportOptionsSchema, options ?? {}, 'exportModel: invalid options', 'options are weights, numClasses, classes, seed, onNote, fetch');
}

/** Writes `model` (a zoo name or a ModelSpec) with its weights as a standalone ONNX classifier at `out`. */
export async function exportModel(model: string | ModelSpec, out: string, options?: ExportOptions): Promise<ExportResult> {
  const opts = parseOptions(options);
  const spec = typeof model === 'string' ? (isOnnxModelPath(model) ? onnxBackboneSpec(model) : getModel(model)) : model;
  const source = spec.weights[0];
  let weightsPath: string;
  let loaded: NamedTensors;
  if (opts.weights === undefined && spec.builtinWeights) {
    // Weights that ship with headstart (the offline backbone): no file, no network.
    weightsPath = `builtin:${spec.builtinWeights.id}`;
    loaded = await spec.builtinWeights.load();
  } else {
    if (opts.weights === undefined && source && source.format !== 'pth' && source.format !== 'safetensors') {
      throw new ConfigError('E_NO_WEIGHTS', `export of ${spec.name} needs --weights: its known weights are in ${source.format} format`, { hint: 'pass a .pth or .safetensors state dict with --weights' });
    }
    weightsPath = await resolveWeightsFile(opts.weights, source ? { ...source } : undefined, opts.fetch);
    loaded = await loadWeightsFile(weightsPath);
  }

  const headWeight = `${spec.head.name}.weight`;
  const ownClasses = loaded.get(headWeight)?.shape[0];
  if (opts.numClasses === undefined && ownClasses === undefined) {
    throw new WeightsError('E_WEIGHTS_MISMATCH', `The weights of ${spec.name} (${weightsPath}) have no \`${headWeight}\`: the class count is unknown`, { hint: 'give the class count with --num-classes (the classifier is then initialised like torch.nn.Linear)' });
  }
  const numClasses = opts.classes?.length ?? opts.numClasses ?? ownClasses!;
  if (opts.classes && opts.numClasses !== undefined && opts.classes.length !== opts.numClasses) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `${opts.classes.length} class names given for --num-classes ${opts.numClasses}`, { hint: 'give one name per class' });
  }

  const { params: defs } = buildInferenceGraph(spec, { batch: -1, numClasses });
  const expected = new Map(defs.map((d) => [d.name, d.shape]));
  const classifierNames = defs.filter((d) => d.name === headWeight || d.name === `${spec.head.name}.bias`).map((d) => d.name);
  const match = matchStateDict(expected, loaded, { classifierNames, strict: false });
  const backboneMissing = match.missing.filter((n) => !classifierNames.includes(n));
  if (backboneMissing.length > 0) {
    throw new WeightsError('E_WEIGHTS_MISMATCH', `\`${weightsPath}\` lacks ${backboneMissing.length} parameter(s) of ${spec.name}: ${backboneMissing.slice(0, 5).map((n) => `\`${n}\``).join(', ')}`, {
      hint: 'the weights were saved from another architecture: check --model and --weights',
    });
  }
  const fresh = defs.filter((d) => !match.tensors.has(d.name));
  const init = initParams(fresh, opts.seed);
  const params: NamedTensors = new Map();
  for (const d of defs) params.set(d.name, match.tensors.get(d.name) ?? init.get(d.name)!);
  const reinitialised = fresh.map((d) => d.name);
  // Missing names can only be the classifier's here (anything else threw): say that once, plainly.
  const notes = match.notes.filter((n) => !/not in the checkpoint keep their initial values/.test(n));
  if (match.missing.length > 0) notes.push(`The checkpoint has no classifier: ${reinitialised.join(', ')} initialised like torch.nn.Linear (seed ${opts.seed})`);
  for (const n of notes) opts.onNote?.(n);

  const path = resolve(out);
  await mkdir(dirname(path), { recursive: true });
  const metadata = await writeClassifier(path, spec, params, {
    model: spec.name,
    classes: opts.classes ?? Array.from({ length: numClasses }, (_, i) => String(i)),
    preprocess: PreprocessSpecSchema.parse({ ...spec.preprocess }),
    mode: 'finetune',
  });
  return { path, model: spec.name, weights: weightsPath, numClasses, loaded: match.tensors.size, reinitialised, notes, metadata };
}
