/**
 * `headstart export`: a zoo architecture plus a weight file (or its known pretrained
 * weights) written as one standalone ONNX classifier. Its first input is the normalised
 * NCHW float32 image batch, its output the logits; the class count is the checkpoint's own
 * unless one is given, in which case the classifier is re-initialised like torch.nn.Linear.
 * The headstart metadata (classes, preprocessing) is stored too, so `headstart predict`
 * runs the file directly.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError, WeightsError } from '../errors.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { buildInferenceGraph } from '../engine/training-graph.js';
import { initParams } from '../models/init-params.js';
import type { ModelSpec } from '../models/model-spec.js';
import { getModel } from '../models/registry.js';
import type { NamedTensors } from '../tensor.js';
import { resolveWeightsFile, type FetchWeightsOptions } from '../weights/download.js';
import { matchStateDict } from '../weights/load-state.js';
import { readPth } from '../weights/pth.js';
import { readSafetensors } from '../weights/safetensors.js';
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

const PK = [0x50, 0x4b, 0x03, 0x04];

/** A state dict from a PyTorch zip checkpoint or a safetensors file, told apart by content. */
export async function readStateDictFile(path: string): Promise<NamedTensors> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (cause) {
    throw new WeightsError(`Cannot read weight file \`${path}\`: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`, { hint: 'check the path given with --weights', cause });
  }
  const ext = extname(path).toLowerCase();
  if (PK.every((b, i) => bytes[i] === b) || ext === '.pth' || ext === '.pt' || ext === '.bin') return readPth(bytes, { fileName: path });
  if (ext === '.safetensors' || bytes[8] === 0x7b /* '{' after the 8-byte header length */) return readSafetensors(bytes, { fileName: path });
  throw new WeightsError(`Weight file \`${path}\` is neither a PyTorch checkpoint (.pth/.pt) nor a safetensors file`, {
    hint: 'export reads torch.save state dicts and safetensors; other formats (ONNX, TF.js) are imported through `headstart train --weights`',
  });
}

function parseOptions(options: ExportOptions | undefined) {
  const r = ExportOptionsSchema.safeParse(options ?? {});
  if (!r.success) {
    throw new ConfigError(`exportModel: invalid options: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`, {
      hint: 'options are weights, numClasses, classes, seed, onNote, fetch',
    });
  }
  return r.data;
}

/** Writes `model` (a zoo name or a ModelSpec) with its weights as a standalone ONNX classifier at `out`. */
export async function exportModel(model: string | ModelSpec, out: string, options?: ExportOptions): Promise<ExportResult> {
  const opts = parseOptions(options);
  const spec = typeof model === 'string' ? getModel(model) : model;
  const source = spec.weights[0];
  if (opts.weights === undefined && source && source.format !== 'pth' && source.format !== 'safetensors') {
    throw new ConfigError(`export of ${spec.name} needs --weights: its known weights are in ${source.format} format`, { hint: 'pass a .pth or .safetensors state dict with --weights' });
  }
  const weightsPath = await resolveWeightsFile(opts.weights, source ? { ...source } : undefined, opts.fetch);
  const loaded = await readStateDictFile(weightsPath);

  const headWeight = `${spec.head.name}.weight`;
  const ownClasses = loaded.get(headWeight)?.shape[0];
  if (opts.numClasses === undefined && ownClasses === undefined) {
    throw new WeightsError(`\`${weightsPath}\` has no \`${headWeight}\`: the checkpoint's class count is unknown`, { hint: 'give the class count with --num-classes' });
  }
  const numClasses = opts.classes?.length ?? opts.numClasses ?? ownClasses!;
  if (opts.classes && opts.numClasses !== undefined && opts.classes.length !== opts.numClasses) {
    throw new ConfigError(`${opts.classes.length} class names given for --num-classes ${opts.numClasses}`, { hint: 'give one name per class' });
  }

  const { params: defs } = buildInferenceGraph(spec, { batch: -1, numClasses });
  const expected = new Map(defs.map((d) => [d.name, d.shape]));
  const classifierNames = defs.filter((d) => d.name === headWeight || d.name === `${spec.head.name}.bias`).map((d) => d.name);
  const match = matchStateDict(expected, loaded, { classifierNames, strict: false });
  const notes = [...match.notes];
  const backboneMissing = match.missing.filter((n) => !classifierNames.includes(n));
  if (backboneMissing.length > 0) {
    throw new WeightsError(`\`${weightsPath}\` lacks ${backboneMissing.length} parameter(s) of ${spec.name}: ${backboneMissing.slice(0, 5).map((n) => `\`${n}\``).join(', ')}`, {
      hint: 'the weights were saved from another architecture: check --model and --weights',
    });
  }
  const fresh = defs.filter((d) => !match.tensors.has(d.name));
  const init = initParams(fresh, opts.seed);
  const params: NamedTensors = new Map();
  for (const d of defs) params.set(d.name, match.tensors.get(d.name) ?? init.get(d.name)!);
  const reinitialised = fresh.map((d) => d.name);
  if (match.missing.some((n) => classifierNames.includes(n))) notes.push(`The checkpoint has no classifier: ${reinitialised.join(', ')} initialised like torch.nn.Linear (seed ${opts.seed})`);
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
