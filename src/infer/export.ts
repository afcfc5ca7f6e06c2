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
import { ConfigError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { loadInitialParams } from '../graphs/initial-params.js';
import type { ModelSpec } from '../models/model-spec.js';
import { getModel } from '../models/registry.js';
import { isOnnxModelPath, onnxBackboneSpec } from '../models/onnx-backbone.js';
import type { FetchWeightsOptions } from '../weights/download.js';
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
  if (opts.classes && opts.numClasses !== undefined && opts.classes.length !== opts.numClasses) {
    throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `${opts.classes.length} class names given for --num-classes ${opts.numClasses}`, { hint: 'give one name per class' });
  }
  const init = await loadInitialParams(spec, { weights: opts.weights, numClasses: opts.classes?.length ?? opts.numClasses, seed: opts.seed, stateDictOnly: true, fetch: opts.fetch });
  const { params, numClasses } = init;
  const weightsPath = init.origin.kind === 'builtin' ? `builtin:${spec.builtinWeights!.id}` : init.origin.label;
  const notes: string[] = [];
  if (init.replacedHeadClasses !== null)
    notes.push(`The checkpoint's classifier has ${init.replacedHeadClasses} outputs and the model ${numClasses}: ${init.initialisedHead.join(', ')} re-initialised, everything else is loaded`);
  else if (init.initialisedHead.length > 0) notes.push(`The checkpoint has no classifier: ${init.initialisedHead.join(', ')} initialised like torch.nn.Linear (seed ${opts.seed})`);
  if (init.unused.length > 0) notes.push(`${init.unused.length} checkpoint tensor(s) are not used by the model: ${init.unused.slice(0, 5).join(', ')}${init.unused.length > 5 ? ' ...' : ''}`);
  for (const n of notes) opts.onNote?.(n);

  const path = resolve(out);
  await mkdir(dirname(path), { recursive: true });
  const metadata = await writeClassifier(path, spec, params, {
    model: spec.name,
    classes: opts.classes ?? Array.from({ length: numClasses }, (_, i) => String(i)),
    preprocess: PreprocessSpecSchema.parse({ ...spec.preprocess }),
    mode: 'finetune',
  });
  return { path, model: spec.name, weights: weightsPath, numClasses, loaded: init.loaded, reinitialised: init.initialisedHead, notes, metadata };
}
