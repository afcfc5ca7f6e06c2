/**
 * The configuration of a training run: zod schemas for what a user may pass (unknown keys
 * rejected, values checked once, here), the two recipes the defaults come from, and the
 * resolution of options + recipe into one complete, JSON-able config (config.json).
 *
 * Recipes:
 *   - torchvision (default): the PyTorch transfer-learning tutorial — resnet18 on ImageNet
 *     weights, batch 8, SGD lr 1e-3 momentum 0.9, StepLR(7, 0.1), 25 epochs, cross-entropy;
 *     the same optimiser for fine-tuning and for feature extraction.
 *   - floydhub: the FloydHub transfer-learning article — lr 1e-4; fine-tuning with SGD
 *     momentum 0.9 over all parameters, feature extraction with plain SGD (momentum 0) over
 *     the new classifier only; StepLR(7, 0.1); 25 epochs; batch 8.
 * Explicit options always override the recipe's values.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { resolveBnMomentum } from './models/bn-momentum.js';
import type { ModelSpec } from './models/model-spec.js';
import type { TrainListener } from './train/events.js';

export const RECIPE_NAMES = ['torchvision', 'floydhub'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];
export const MODES = ['finetune', 'features', 'auto'] as const;
export type TrainMode = (typeof MODES)[number];
export type ConcreteMode = Exclude<TrainMode, 'auto'>;
export const OPTIMIZERS = ['sgd', 'adamw'] as const;
export const SCHEDULERS = ['step', 'cosine', 'onecycle', 'none'] as const;
export const DEVICES = ['cpu', 'cuda'] as const;

/** The values a recipe fixes; `momentum` may depend on the mode. */
export interface Recipe {
  model: string;
  mode: ConcreteMode;
  epochs: number;
  batchSize: number;
  optimizer: (typeof OPTIMIZERS)[number];
  lr: number;
  momentum: Record<ConcreteMode, number>;
  weightDecay: number;
  scheduler: (typeof SCHEDULERS)[number];
  stepSize: number;
  gamma: number;
  /** BatchNorm momentum (torch's convention) for models that bring none of their own (src/models/bn-momentum.ts). */
  bnMomentum: number;
}

export const RECIPES: Readonly<Record<RecipeName, Readonly<Recipe>>> = Object.freeze({
  torchvision: {
    model: 'resnet18',
    mode: 'finetune',
    epochs: 25,
    batchSize: 8,
    optimizer: 'sgd',
    lr: 1e-3,
    momentum: { finetune: 0.9, features: 0.9 },
    weightDecay: 0,
    scheduler: 'step',
    stepSize: 7,
    gamma: 0.1,
    bnMomentum: 0.1,
  },
  floydhub: {
    model: 'resnet18',
    mode: 'finetune',
    epochs: 25,
    batchSize: 8,
    optimizer: 'sgd',
    lr: 1e-4,
    momentum: { finetune: 0.9, features: 0 },
    weightDecay: 0,
    scheduler: 'step',
    stepSize: 7,
    gamma: 0.1,
    bnMomentum: 0.1,
  },
});

const isSpec = (v: unknown): v is ModelSpec =>
  typeof v === 'object' && v !== null && typeof (v as ModelSpec).name === 'string' && typeof (v as ModelSpec).features === 'function';
const isFunction = (v: unknown) => typeof v === 'function';
const isAbortSignal = (v: unknown): v is AbortSignal => typeof v === 'object' && v !== null && 'aborted' in v && 'addEventListener' in v;


/** Everything `train(dataRoot, options)` accepts; every field is optional. */
export const TrainOptionsSchema = z.strictObject({
  recipe: z.enum(RECIPE_NAMES).default('torchvision'),
  /** A registered model name, or a ModelSpec object (library use). */
  model: z.union([z.string().min(1), z.custom<ModelSpec>(isSpec, 'expected a model name or a ModelSpec')]).optional(),
  /** A .pth / .safetensors file, or 'none' for random initialisation; default: the model's own weights. */
  weights: z.string().min(1).optional(),
  mode: z.enum(MODES).optional(),
  epochs: z.int().positive().optional(),
  batchSize: z.int().positive().optional(),
  optimizer: z.enum(OPTIMIZERS).optional(),
  lr: z.number().positive().optional(),
  momentum: z.number().min(0).lt(1).optional(),
  weightDecay: z.number().min(0).optional(),
  scheduler: z.enum(SCHEDULERS).optional(),
  /** StepLR: epochs between decays. */
  stepSize: z.int().positive().optional(),
  /** StepLR: decay factor. */
  gamma: z.number().gt(0).max(1).optional(),
  /** Cosine: the lowest lr. */
  etaMin: z.number().min(0).optional(),
  /** One-cycle: the peak lr (default 10x lr). */
  maxLr: z.number().positive().optional(),
  /** One-cycle: fraction of the run spent increasing the lr. */
  pctStart: z.number().gt(0).lt(1).optional(),
  labelSmoothing: z.number().min(0).lt(1).default(0),
  /** 'auto': weights inversely proportional to class frequency (sklearn's 'balanced'); or one weight per class. */
  classWeights: z.union([z.literal('auto'), z.array(z.number().positive()).min(1)]).optional(),
  /** Keep every BatchNorm in inference mode while fine-tuning. */
  freezeBn: z.boolean().default(false),
  /** BatchNorm momentum (torch's convention) while fine-tuning; default: the model's own, else the recipe's 0.1. */
  bnMomentum: z.number().gt(0).max(1).optional(),
  /** Fine-tune only the last K stages of the backbone (and the head). */
  unfreezeLast: z.int().nonnegative().optional(),
  /** Fraction of a root holding only class folders used for validation. */
  valSplit: z.number().gt(0).lt(1).default(0.2),
  seed: z.int().min(0).max(2 ** 31 - 1).default(0),
  threads: z.int().positive().optional(),
  device: z.enum(DEVICES).default('cpu'),
  /** Output folder (default runs/<timestamp>-<model>-<mode>). */
  out: z.string().min(1).optional(),
  /** Continue the interrupted run in `out` (or in this folder) from its checkpoint. */
  resume: z.union([z.boolean(), z.string().min(1)]).default(false),
  /** Stop when val accuracy has not improved for N epochs. */
  earlyStop: z.int().positive().optional(),
  /** Features mode: cache K augmented views per training image (0: one un-augmented view). */
  featureViews: z.int().min(0).max(64).default(0),
  /** Folder of the feature cache (default: $HEADSTART_HOME/features or the XDG cache). */
  cacheDir: z.string().min(1).optional(),
  /** Crop side fed to the network (default: the model's); smaller is faster, less accurate. */
  inputSize: z.int().min(8).max(1024).optional(),
  /** Random augmentation of training images (RandomResizedCrop + flip); false uses the eval transform. */
  augment: z.boolean().default(true),
  /** Event listeners (objects of handlers keyed by event name). */
  listeners: z.array(z.custom<TrainListener>((v) => typeof v === 'object' && v !== null, 'expected a listener object')).default([]),
  /** Stops the run at the next batch; the last finished epoch's checkpoint is kept. */
  signal: z.custom<AbortSignal>(isAbortSignal, 'expected an AbortSignal').optional(),
  /** Called with (bytes, total) while weights download. */
  onDownloadProgress: z.custom<(bytes: number, total: number | undefined) => void>(isFunction, 'expected a function').optional(),
});
export type TrainOptions = z.input<typeof TrainOptionsSchema>;
export type ParsedTrainOptions = z.output<typeof TrainOptionsSchema>;

/** The optimiser and schedule as resolved for one mode. */
export interface ResolvedOptim {
  optimizer: (typeof OPTIMIZERS)[number];
  lr: number;
  momentum: number;
  weightDecay: number;
  scheduler: (typeof SCHEDULERS)[number];
  stepSize: number;
  gamma: number;
  etaMin: number;
  maxLr: number;
  pctStart: number;
}

/** The complete configuration of a run (what config.json records). */
export interface ResolvedTrainConfig extends ResolvedOptim {
  recipe: RecipeName;
  model: string;
  /** The --weights option as given (a file, 'none'), or null for the model's own weights. */
  weights: string | null;
  /** Where the starting weights came from, in words. */
  weightsSource: string;
  mode: ConcreteMode;
  epochs: number;
  batchSize: number;
  labelSmoothing: number;
  classWeights: 'auto' | number[] | null;
  freezeBn: boolean;
  /** BatchNorm momentum (torch's convention) of the fine-tuning run (src/models/bn-momentum.ts). */
  bnMomentum: number;
  unfreezeLast: number | null;
  valSplit: number;
  seed: number;
  threads: number | null;
  device: (typeof DEVICES)[number];
  earlyStop: number | null;
  featureViews: number;
  inputSize: number | null;
  augment: boolean;
}

function describeIssues(error: z.ZodError, schema: z.ZodObject): string {
  return error.issues
    .map((i) => {
      const key = i.path.join('.') || '(options)';
      const field = schema.shape[i.path[0] as string] as z.ZodType | undefined;
      const choices = field ? enumChoices(field) : undefined;
      if (i.code === 'unrecognized_keys') return `unknown option(s) ${i.keys.map((k) => `\`${k}\``).join(', ')} (valid: ${Object.keys(schema.shape).join(', ')})`;
      return `${key}: ${i.message}${choices ? ` (valid: ${choices.join(', ')})` : ''}`;
    })
    .join('; ');
}

function enumChoices(t: z.ZodType): string[] | undefined {
  let cur: unknown = t;
  for (let depth = 0; depth < 4 && cur; depth++) {
    const c = cur as { options?: unknown; unwrap?: () => unknown; def?: { innerType?: unknown } };
    if (cur instanceof z.ZodEnum) return (cur as z.ZodEnum).options.map(String);
    cur = c.def?.innerType ?? (typeof c.unwrap === 'function' ? c.unwrap() : undefined);
  }
  return undefined;
}

/** Validates train options once, at the boundary. */
export function parseTrainOptions(options: unknown): ParsedTrainOptions {
  const r = TrainOptionsSchema.safeParse(options ?? {});
  if (!r.success) {
    throw new ConfigError(`Invalid train options: ${describeIssues(r.error, TrainOptionsSchema)}`, { hint: 'see `headstart train --help`' });
  }
  return r.data;
}

/** The model name the options ask for (the recipe's by default). */
export function requestedModel(o: Pick<ParsedTrainOptions, 'model' | 'recipe'>): string | ModelSpec {
  return o.model ?? RECIPES[o.recipe].model;
}

/** The optimiser and schedule for `mode`: the recipe's values, overridden by explicit options. */
export function resolveOptim(o: ParsedTrainOptions, mode: ConcreteMode): ResolvedOptim {
  const r = RECIPES[o.recipe];
  const lr = o.lr ?? r.lr;
  const optimizer = o.optimizer ?? r.optimizer;
  return {
    optimizer,
    lr,
    momentum: o.momentum ?? (optimizer === 'sgd' ? r.momentum[mode] : 0.9),
    // AdamW's torch default decay when the recipe (written for SGD) has none.
    weightDecay: o.weightDecay ?? (optimizer === 'adamw' ? 1e-2 : r.weightDecay),
    scheduler: o.scheduler ?? r.scheduler,
    stepSize: o.stepSize ?? r.stepSize,
    gamma: o.gamma ?? r.gamma,
    etaMin: o.etaMin ?? 0,
    maxLr: o.maxLr ?? lr * 10,
    pctStart: o.pctStart ?? 0.3,
  };
}

/**
 * The full configuration for a concrete mode. `modelBnMomentum` is the model's own BatchNorm
 * momentum (`ModelSpec.bnMomentum`), absent for imported models.
 */
export function resolveTrainConfig(o: ParsedTrainOptions, mode: ConcreteMode, modelName: string, weightsSource: string, modelBnMomentum?: number): ResolvedTrainConfig {
  const r = RECIPES[o.recipe];
  if (mode === 'features' && o.unfreezeLast !== undefined && o.unfreezeLast > 0) {
    throw new ConfigError(`--unfreeze-last ${o.unfreezeLast} contradicts --mode features (only the new classifier trains)`, {
      hint: 'use --mode finetune with --unfreeze-last, or drop --unfreeze-last',
    });
  }
  return {
    recipe: o.recipe,
    model: modelName,
    weights: o.weights ?? null,
    weightsSource,
    mode,
    epochs: o.epochs ?? r.epochs,
    batchSize: o.batchSize ?? r.batchSize,
    ...resolveOptim(o, mode),
    labelSmoothing: o.labelSmoothing,
    classWeights: o.classWeights ?? null,
    freezeBn: o.freezeBn,
    bnMomentum: resolveBnMomentum(modelBnMomentum, o.bnMomentum, r.bnMomentum).momentum,
    unfreezeLast: o.unfreezeLast ?? null,
    valSplit: o.valSplit,
    seed: o.seed,
    threads: o.threads ?? null,
    device: o.device,
    earlyStop: o.earlyStop ?? null,
    featureViews: o.featureViews,
    inputSize: o.inputSize ?? null,
    augment: o.augment,
  };
}

/** `compare(dataRoot, options)`: the train options shared by both runs (no mode, no resume). */
export const CompareOptionsSchema = TrainOptionsSchema.omit({ mode: true, resume: true });
export type CompareOptions = z.input<typeof CompareOptionsSchema>;

export function parseCompareOptions(options: unknown): z.output<typeof CompareOptionsSchema> {
  const r = CompareOptionsSchema.safeParse(options ?? {});
  if (!r.success) {
    throw new ConfigError(`Invalid compare options: ${describeIssues(r.error, CompareOptionsSchema)}`, { hint: 'see `headstart compare --help`' });
  }
  return r.data;
}
