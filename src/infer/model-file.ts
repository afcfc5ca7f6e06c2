/**
 * The trained classifier file (model.onnx): a standalone ONNX graph whose input is the
 * normalised NCHW image batch and whose output is the logits, with everything needed to
 * use it — class names, preprocessing, provenance — stored as JSON under the model's
 * metadata_props key `headstart`. Any ONNX runtime runs the graph; headstart (and a web
 * page, through readClassifierMetadataFromBytes) reads the metadata.
 */
import { z } from 'zod';
import { ConfigError, WeightsError } from '../errors.js';
import { readFileOrThrow } from '../read-file.js';
import { parseOrThrow } from '../zod-issues.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { writeFileAtomic } from '../atomic-write.js';
import { buildInferenceGraph, IO } from '../graphs/network-graph.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { NamedTensors } from '../tensor.js';
import type { FeatureDistanceModel } from '../metrics/feature-distance.js';
import { parseVerificationRecord, VERIFICATION_KEY, type VerificationRecord } from './verification-record.js';
import { decodeJson, METADATA_KEY, metadataText, parseMetadata, type ClassifierMetadata, type ClassifierMetadataInput } from './classifier-metadata.js';

export { readClassifierMetadataFromBytes, type ClassifierMetadata, type ClassifierMetadataInput } from './classifier-metadata.js';

export interface ClassifierBytesOptions {
  /** The self-check stored beside the metadata (src/infer/verification-record.ts). */
  verification?: VerificationRecord;
  /** The fitted feature distance of a `mahalanobis` rejection score (src/metrics/feature-distance.ts); required by that score. */
  featureDistance?: FeatureDistanceModel;
}

/**
 * The ONNX bytes of a classifier: the eval graph of `spec` with `params` embedded and the
 * metadata stored. With calibration or rejection in the metadata, the graph also outputs
 * `probabilities` (and `score`, `unknown`) after `logits` (src/graphs/calibrated-outputs.ts).
 */
export function classifierBytes(spec: ModelSpec, params: NamedTensors, metadata: ClassifierMetadataInput, options: ClassifierBytesOptions = {}): { bytes: Uint8Array; metadata: ClassifierMetadata } {
  const meta = parseMetadata(metadata, `writeClassifier(${spec.name})`, 'options');
  const calibrated = meta.calibration || meta.rejection;
  const distance = options.featureDistance;
  if (meta.rejection?.score === 'mahalanobis' && (!distance || distance.classes !== meta.classes.length)) {
    throw new ConfigError(
      'E_BAD_OPTION',
      `writeClassifier(${spec.name}): the mahalanobis "unknown" score needs its fitted feature distance for ${meta.classes.length} classes, ${distance ? `found one for ${distance.classes}` : 'none given'}`,
      { hint: 'pass options.featureDistance (fitFeatureDistance on the training features), or use the msp or energy score' },
    );
  }
  const built = buildInferenceGraph(spec, {
    batch: -1,
    numClasses: meta.classes.length,
    inputSize: meta.preprocess.inputSize,
    constants: params,
    metadata: { [METADATA_KEY]: JSON.stringify(meta), ...(options.verification ? { [VERIFICATION_KEY]: JSON.stringify(options.verification) } : {}) },
    ...(calibrated
      ? {
          calibration: {
            temperature: meta.calibration?.temperature ?? 1,
            ...(meta.rejection ? { rejection: { score: meta.rejection.score, threshold: meta.rejection.threshold, ...(distance && meta.rejection.score === 'mahalanobis' ? { distance } : {}) } } : {}),
          },
        }
      : {}),
  });
  // A parameter without a value would be left as a graph input: the file would not be standalone.
  const missing = built.fed;
  if (missing.length > 0) {
    throw new WeightsError(
      'E_WEIGHTS_MISMATCH',
      `writeClassifier(${spec.name}): no value for ${missing.length} parameter(s): ${missing
        .slice(0, 5)
        .map((n) => `\`${n}\``)
        .join(', ')}`,
      {
        hint: 'pass every parameter of the network (weights, biases and BatchNorm running statistics)',
      },
    );
  }
  return { bytes: built.bytes, metadata: meta };
}

/** Writes model.onnx atomically (temp file + rename); returns the metadata as stored. */
export async function writeClassifier(path: string, spec: ModelSpec, params: NamedTensors, metadata: ClassifierMetadataInput, options: ClassifierBytesOptions = {}): Promise<ClassifierMetadata> {
  const { bytes, metadata: meta } = classifierBytes(spec, params, metadata, options);
  await writeFileAtomic(path, bytes, 'the model file');
  return meta;
}

export interface TensorSignature {
  name: string;
  /** Dimensions; -1 where the dimension is dynamic (named or unknown). */
  shape: number[];
}

export interface ClassifierFile {
  bytes: Uint8Array;
  metadata: ClassifierMetadata;
  /** The graph's first input (the image batch) and first output (the logits). */
  input: TensorSignature;
  output: TensorSignature;
  /** True when the metadata came from the file, false when supplied by the caller. */
  embedded: boolean;
  /** Every output name of the graph, in order (`logits`, then `probabilities`, `score`, `unknown` when calibrated). */
  outputNames: string[];
  /** The stored self-check (`headstart.verification`), when the file has one. */
  verification?: VerificationRecord;
}

const ReadOptionsSchema = z.strictObject({
  /** Class names for a foreign ONNX classifier without headstart metadata (ignored when the file has it). */
  classes: z.array(z.string().min(1)).min(1).optional(),
  /** Preprocessing for a foreign ONNX classifier (with `classes`). */
  preprocess: PreprocessSpecSchema.optional(),
  /** Architecture label for a foreign classifier. */
  model: z.string().min(1).default('external'),
});
export type ReadClassifierOptions = z.input<typeof ReadOptionsSchema>;

function dims(v: { type?: { tensorType?: { shape?: { dim?: { dimValue?: unknown }[] | null } | null } | null } | null }): number[] {
  return (v.type?.tensorType?.shape?.dim ?? []).map((d) => {
    const n = d.dimValue === null || d.dimValue === undefined ? 0 : Number(d.dimValue);
    return n > 0 ? n : -1;
  });
}

/**
 * Reads model.onnx: its bytes, metadata and input/output signature. A foreign ONNX
 * classifier without headstart metadata may be used when `classes` and `preprocess` are given.
 */
export async function readClassifier(path: string, options?: ReadClassifierOptions): Promise<ClassifierFile> {
  const opts = parseOrThrow(ReadOptionsSchema, options ?? {}, 'readClassifier: invalid options');
  const buf = await readFileOrThrow(path, 'the model file', 'check the path (train writes <out>/model.onnx)');
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  const where = `\`${path}\``;
  const { text, parsed } = metadataText(bytes, where);
  const graph = parsed.model.graph!;
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const inputs = (graph.input ?? []).filter((i) => !initializers.has(i.name));
  const outputs = graph.output ?? [];
  if (inputs.length === 0 || outputs.length === 0) {
    throw new WeightsError('E_BAD_MODEL_FILE', `${where} has ${inputs.length} input(s) and ${outputs.length} output(s); a classifier needs an image input and a logits output`, {
      hint: 'pass a model.onnx written by `headstart train` or `headstart export`',
    });
  }
  const input = { name: inputs[0].name ?? IO.images, shape: dims(inputs[0]) };
  const output = { name: outputs[0].name ?? IO.logits, shape: dims(outputs[0]) };

  let metadata: ClassifierMetadata;
  let embedded = true;
  if (text !== undefined) {
    metadata = parseMetadata(decodeJson(text, where), where, 'file');
  } else if (opts.classes && opts.preprocess) {
    embedded = false;
    metadata = parseMetadata({ model: opts.model, classes: opts.classes, preprocess: opts.preprocess, mode: 'finetune' }, where, 'options');
  } else {
    throw new WeightsError('E_BAD_MODEL_FILE', `${where} has no \`${METADATA_KEY}\` metadata: it is an ONNX model, but not a headstart classifier`, {
      hint: 'pass a model.onnx written by `headstart train`, or give the class names and preprocessing yourself (--classes, --preprocess)',
    });
  }
  const k = output.shape[output.shape.length - 1];
  if (k !== undefined && k > 0 && k !== metadata.classes.length) {
    const message = `${where} outputs ${k} logits per image but its metadata lists ${metadata.classes.length} classes (${metadata.classes.join(', ')})`;
    if (!embedded) throw new ConfigError('E_BAD_OPTION', message, { hint: 'give one class name per output of the model' });
    throw new WeightsError('E_BAD_MODEL_FILE', message, { hint: 'the file was edited or assembled by hand; re-export it with `headstart export`' });
  }
  if (input.shape.length !== 4 || (input.shape[1] !== 3 && input.shape[1] !== -1)) {
    throw new WeightsError('E_BAD_MODEL_FILE', `${where}: input \`${input.name}\` has shape [${input.shape.join(',')}], expected an image batch [N,3,H,W]`, {
      hint: 'headstart runs classifiers whose first input is a normalised NCHW float32 image batch',
    });
  }
  const verificationText = parsed.metadata[VERIFICATION_KEY];
  return {
    bytes,
    metadata,
    input,
    output,
    embedded,
    outputNames: outputs.map((o) => o.name ?? ''),
    ...(verificationText !== undefined ? { verification: parseVerificationRecord(verificationText, where) } : {}),
  };
}
