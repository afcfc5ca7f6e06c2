import { dirname, join } from 'node:path';
import { z } from 'zod';
import { WeightsError, type ErrorCode } from '../errors.js';
import { readFileOrThrow } from '../read-file.js';
import { describeZodIssues, parseOrThrow } from '../zod-issues.js';
import { numel, type HostTensor, type NamedTensors } from '../tensor.js';
import { float16ToFloat32 } from './half.js';

/**
 * TF.js layers models: a Keras topology (model.json's `modelTopology`) plus a
 * `weightsManifest` that lists, group by group, the weights stored back to back in the
 * shard files. Quantised weights are dequantised the way tfjs-core's `decodeWeights` does:
 * uint8/uint16 as `q * scale + min`, float16 widened. Float weights come out as float32,
 * int32 weights as int32, bool as bytes; names stay Keras's (`Conv1/kernel`).
 */

const QuantizationSchema = z.looseObject({
  dtype: z.enum(['uint8', 'uint16', 'float16']),
  scale: z.number().optional(),
  min: z.number().optional(),
});

const WeightSpecSchema = z.looseObject({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.string(),
  quantization: QuantizationSchema.optional(),
});
export type TfjsWeightSpec = z.infer<typeof WeightSpecSchema>;

const ManifestSchema = z.array(z.looseObject({ paths: z.array(z.string()), weights: z.array(WeightSpecSchema) }));

const KerasLayerSchema = z.looseObject({
  class_name: z.string(),
  name: z.string().optional(),
  config: z.record(z.string(), z.unknown()),
  inbound_nodes: z.array(z.unknown()).optional(),
});
export type KerasLayer = z.infer<typeof KerasLayerSchema>;

const ModelConfigSchema = z.looseObject({
  class_name: z.string(),
  config: z.union([
    z.looseObject({ name: z.string().optional(), layers: z.array(KerasLayerSchema) }),
    z.array(KerasLayerSchema), // old Keras Sequential
  ]),
});
export type KerasModelConfig = z.infer<typeof ModelConfigSchema>;

const ModelJsonSchema = z.looseObject({
  modelTopology: z.looseObject({}),
  weightsManifest: ManifestSchema,
  format: z.string().optional(),
});

export interface TfjsLayersModel {
  /** The Keras model config: `{class_name: 'Model' | 'Functional' | 'Sequential', config: {layers, ...}}`. */
  topology: KerasModelConfig;
  /** The layers of the topology, in order. */
  layers: KerasLayer[];
  kerasVersion?: string;
  /** Every weight entry of the manifest, in order. */
  manifest: TfjsWeightSpec[];
  /** Decoded weights in manifest order, under their Keras names. */
  weights: NamedTensors;
}

const OptionsSchema = z.strictObject({ fileName: z.string().optional() });
export type TfjsReadOptions = z.input<typeof OptionsSchema>;

const issues = (e: z.ZodError): string => describeZodIssues(e, 3);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  // A plain Uint8Array view, not a Buffer (whose slice() does not copy).
  if (parts.length === 1) return new Uint8Array(parts[0].buffer, parts[0].byteOffset, parts[0].byteLength);
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Decode a TF.js layers model from its model.json object and its weight bytes (the shards
 * of every manifest group, in manifest order: one buffer or the list of shards).
 */
export function readTfjsLayersModel(modelJson: unknown, weightData: Uint8Array | readonly Uint8Array[], options?: TfjsReadOptions): TfjsLayersModel {
  const opts = parseOrThrow(OptionsSchema, options ?? {}, 'Invalid TF.js reader options');
  const file = opts.fileName ?? 'model.json';
  const bad = (what: string, hint = 'expected a TF.js layers model (model.json written by tensorflowjs_converter or model.save)', code: ErrorCode = 'E_BAD_WEIGHTS'): never => {
    throw new WeightsError(code, `\`${file}\`: ${what}`, { hint });
  };

  const parsed = ModelJsonSchema.safeParse(modelJson);
  if (!parsed.success) return bad(`not a TF.js layers model.json (${issues(parsed.error)})`);
  const mt = parsed.data.modelTopology as Record<string, unknown>;
  const config = ModelConfigSchema.safeParse(mt.model_config ?? mt);
  if (!config.success) return bad(`modelTopology is not a Keras model config (${issues(config.error)})`);
  if (parsed.data.format !== undefined && parsed.data.format !== 'layers-model') {
    bad(`format is \`${parsed.data.format}\`, not a layers model`, 'graph models (tfjs_graph_model) have no Keras topology: convert to ONNX instead');
  }
  const topology = config.data;
  const layers = Array.isArray(topology.config) ? topology.config : topology.config.layers;

  const manifest = parsed.data.weightsManifest.flatMap((g) => g.weights);
  const data = concat(Array.isArray(weightData) ? weightData : [weightData as Uint8Array]);
  const weights: NamedTensors = new Map();
  let offset = 0;
  for (const spec of manifest) {
    if (weights.has(spec.name)) bad(`weight \`${spec.name}\` is listed twice in weightsManifest`);
    const n = numel(spec.shape);
    const q = spec.quantization;
    const elemBytes = q ? (q.dtype === 'uint8' ? 1 : 2) : spec.dtype === 'bool' ? 1 : 4;
    if (!q && !['float32', 'int32', 'bool'].includes(spec.dtype)) {
      bad(`weight \`${spec.name}\` has dtype ${spec.dtype}, which headstart does not read`, 'supported: float32, int32, bool (and uint8/uint16/float16 quantisation)', 'E_UNSUPPORTED_DTYPE');
    }
    const size = n * elemBytes;
    if (offset + size > data.length) {
      bad(
        `weight data is truncated: \`${spec.name}\` needs bytes ${offset}..${offset + size}, but the shards hold ${data.length} bytes`,
        'pass every shard listed in weightsManifest.paths, in order, or download them again',
      );
    }
    // Copy so the typed views are aligned and own their memory.
    const bytes = new Uint8Array(data.subarray(offset, offset + size));
    offset += size;
    weights.set(spec.name, decodeWeight(spec, bytes, bad));
  }
  if (offset !== data.length) {
    bad(`${data.length - offset} bytes of weight data are not described by weightsManifest (it lists ${offset} bytes)`, 'pass exactly the shards listed in weightsManifest.paths, in order');
  }
  return {
    topology,
    layers,
    kerasVersion: typeof mt.keras_version === 'string' ? mt.keras_version : undefined,
    manifest,
    weights,
  };
}

function decodeWeight(spec: TfjsWeightSpec, bytes: Uint8Array, bad: (what: string, hint?: string) => never): HostTensor {
  const shape = [...spec.shape];
  const q = spec.quantization;
  if (!q) {
    if (spec.dtype === 'float32') return { dtype: 'float32', shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) };
    if (spec.dtype === 'int32') return { dtype: 'int32', shape, data: new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4) };
    return { dtype: 'bool', shape, data: bytes.map((b) => (b ? 1 : 0)) };
  }
  if (q.dtype === 'float16') {
    if (spec.dtype !== 'float32') bad(`weight \`${spec.name}\`: float16 quantisation of a ${spec.dtype} weight`);
    return { dtype: 'float32', shape, data: float16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2)) };
  }
  if (q.scale === undefined || q.min === undefined) bad(`weight \`${spec.name}\`: ${q.dtype} quantisation without scale and min`);
  const { scale, min } = q as { scale: number; min: number };
  const codes = q.dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  if (spec.dtype === 'float32') {
    const out = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = codes[i] * scale + min;
    return { dtype: 'float32', shape, data: out };
  }
  if (spec.dtype === 'int32') {
    const out = new Int32Array(codes.length);
    for (let i = 0; i < codes.length; i++) out[i] = Math.round(codes[i] * scale + min);
    return { dtype: 'int32', shape, data: out };
  }
  return bad(`weight \`${spec.name}\`: ${q.dtype} quantisation of a ${spec.dtype} weight`);
}

/** Read model.json and the shard files it lists (relative to it) from disk. */
export async function loadTfjsLayersModel(modelJsonPath: string): Promise<TfjsLayersModel> {
  const read = (path: string): Promise<Buffer> => readFileOrThrow(path, 'TF.js file', 'a TF.js model is model.json plus the shard files its weightsManifest lists, in the same folder');
  const text = (await read(modelJsonPath)).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new WeightsError('E_BAD_WEIGHTS', `\`${modelJsonPath}\` is not valid JSON (${(cause as Error).message})`, { cause });
  }
  const manifest = ManifestSchema.safeParse((json as { weightsManifest?: unknown })?.weightsManifest);
  const paths = manifest.success ? manifest.data.flatMap((g) => g.paths) : [];
  const shards = await Promise.all(paths.map((p) => read(join(dirname(modelJsonPath), p))));
  return readTfjsLayersModel(json, shards, { fileName: modelJsonPath });
}
