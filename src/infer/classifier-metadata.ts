/**
 * The classifier metadata stored in model.onnx (metadata_props key `headstart`): its schema,
 * and a reader that decodes it from the model bytes with onnx-proto alone. This file imports
 * no Node built-ins and no ONNX Runtime, so a web page (onnxruntime-web cannot read
 * metadata_props) can bundle it.
 */
import { z } from 'zod';
import { ConfigError, HeadstartError, WeightsError } from '../errors.js';
import { describeZodIssues } from '../zod-issues.js';
import { PreprocessSpecSchema } from '../data/preprocess.js';
import { SplitRecordSchema } from '../data/split-record.js';
import { parseModel, type ParsedModel } from '../onnx/serialize.js';
import { UNKNOWN_SCORES } from '../metrics/rejection.js';

/** The metadata_props key that holds the JSON of ClassifierMetadata. */
export const METADATA_KEY = 'headstart';
const CLASSIFIER_FORMAT = 'headstart-classifier';
const CLASSIFIER_VERSION = 1;

export const ClassifierMetadataSchema = z.strictObject({
  format: z.literal(CLASSIFIER_FORMAT).default(CLASSIFIER_FORMAT),
  version: z.literal(CLASSIFIER_VERSION).default(CLASSIFIER_VERSION),
  /** ModelSpec name of the architecture (or a free label for a foreign model). */
  model: z.string().min(1),
  classes: z
    .array(z.string().min(1))
    .min(1)
    .refine((c) => new Set(c).size === c.length, { message: 'class names must be unique' }),
  preprocess: PreprocessSpecSchema,
  mode: z.enum(['finetune', 'features']),
  bestValAcc: z.number().min(0).max(1).optional(),
  epochs: z.number().int().nonnegative().optional(),
  /** How the training run's val images were obtained (evaluate reproduces an automatic split from it). */
  split: SplitRecordSchema.optional(),
  createdAt: z.iso.datetime().default(() => new Date().toISOString()),
  /** Temperature scaling: the graph's `probabilities` output is Softmax(logits / temperature). */
  calibration: z
    .strictObject({
      temperature: z.number().positive(),
      /** The split it was fitted on, and its size. */
      fittedOn: z.string().min(1),
      images: z.number().int().nonnegative(),
      /** 15-bin expected calibration error and mean NLL on that split, before and after. */
      eceBefore: z.number(),
      eceAfter: z.number(),
      nllBefore: z.number(),
      nllAfter: z.number(),
    })
    .optional(),
  /** "Unknown" rejection: the graph's `unknown` output is `score < threshold`. */
  rejection: z
    .strictObject({
      score: z.enum(UNKNOWN_SCORES),
      threshold: z.number(),
      /** How the threshold was chosen: a target false-rejection rate on val, or the best F1 against --unknown-dir images. */
      method: z.enum(['reject-rate', 'unknown-dir']),
      rejectRate: z.number().min(0).lt(1).optional(),
      /** Share of the val images (all of known classes) the threshold rejects. */
      valRejected: z.number().min(0).max(1),
      /** With --unknown-dir: how many images, the share rejected, the AUROC of the score. */
      unknownImages: z.number().int().nonnegative().optional(),
      unknownRejected: z.number().min(0).max(1).optional(),
      auroc: z.number().min(0).max(1).optional(),
      /** The mahalanobis score: what its class centres and covariance were fitted on (the constants live in the graph). */
      featureDistance: z
        .strictObject({
          dim: z.number().int().positive(),
          /** Ledoit-Wolf weight of the scaled identity in the shared covariance. */
          shrinkage: z.number().min(0).max(1),
          trainImages: z.number().int().positive(),
          covarianceImages: z.number().int().positive(),
          /** --unknown-dir images that got a centre of their own (the score is then d_u^2 - min_c d_c^2). */
          unknownImages: z.number().int().positive().optional(),
        })
        .optional(),
    })
    .optional(),
});

export type ClassifierMetadata = z.output<typeof ClassifierMetadataSchema>;
/** What writeClassifier accepts: format, version and createdAt may be left out. */
export type ClassifierMetadataInput = z.input<typeof ClassifierMetadataSchema>;

/**
 * Validates classifier metadata. `from` says where it came from: a model file (a WeightsError
 * E_BAD_MODEL_FILE when invalid) or the caller's options (a ConfigError E_BAD_OPTION).
 */
export function parseMetadata(value: unknown, where: string, from: 'file' | 'options'): ClassifierMetadata {
  const r = ClassifierMetadataSchema.safeParse(value);
  if (!r.success) {
    const message = `${where}: invalid classifier metadata: ${describeZodIssues(r.error)}`;
    if (from === 'options') throw new ConfigError('E_BAD_OPTION', message, { hint: 'check the classes, preprocessing and model given' });
    throw new WeightsError('E_BAD_MODEL_FILE', message, {
      hint: 'the model was written by another headstart version or edited; re-export it with `headstart train` or supply --classes and --preprocess',
    });
  }
  return r.data;
}

/** A graph input or output as the protobuf decodes it (only what readers use). */
interface GraphValueInfo {
  name?: string | null;
  type?: { tensorType?: { shape?: { dim?: { dimValue?: unknown }[] | null } | null } | null } | null;
}

/**
 * The decoded model's graph, typed structurally: onnx-proto's own types (and its `Long`) stay
 * out of the public declarations (a consumer with `skipLibCheck: false` would otherwise fail).
 */
interface DecodedModel {
  metadata: Record<string, string>;
  model: { graph?: { input?: GraphValueInfo[] | null; output?: GraphValueInfo[] | null; initializer?: { name?: string | null }[] | null } | null };
}

export function metadataText(bytes: Uint8Array, where: string): { text: string | undefined; parsed: DecodedModel } {
  let parsed: ParsedModel;
  try {
    parsed = parseModel(bytes);
  } catch (err) {
    const detail = (err instanceof HeadstartError ? err.message : (err as Error).message).replace(/^Not a valid ONNX file: /, '');
    throw new WeightsError('E_BAD_MODEL_FILE', `${where} is not an ONNX model: ${detail}`, { hint: 'pass the model.onnx that `headstart train` or `headstart export` wrote', cause: err });
  }
  return { text: parsed.metadata[METADATA_KEY], parsed };
}

export function decodeJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new WeightsError('E_BAD_MODEL_FILE', `${where}: the \`${METADATA_KEY}\` metadata is not valid JSON`, { hint: 'the file was edited or truncated; re-export it', cause: err });
  }
}

/**
 * The classifier metadata from the bytes of model.onnx, decoding the protobuf itself. For
 * browsers, where onnxruntime-web cannot read metadata_props; needs no ONNX Runtime.
 */
export function readClassifierMetadataFromBytes(bytes: Uint8Array, source = 'model'): ClassifierMetadata {
  const { text } = metadataText(bytes, source);
  if (text === undefined) {
    throw new WeightsError('E_BAD_MODEL_FILE', `${source} has no \`${METADATA_KEY}\` metadata: it is an ONNX model, but not a headstart classifier`, {
      hint: 'pass a model.onnx written by `headstart train`, or give the class names and preprocessing yourself (--classes, --preprocess)',
    });
  }
  return parseMetadata(decodeJson(text, source), source, 'file');
}
