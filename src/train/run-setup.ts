/**
 * Setting a run up, before its mode and epochs: the device check, the model, the data folder
 * (scanned and split), the preprocessing and transforms, and the starting weights.
 */
import { buildEvalTransform, buildPresetTransform } from '../data/build-transforms.js';
import { scanImageFolder, type ImageFolder } from '../data/image-folder.js';
import type { Pipeline } from '../data/pipeline.js';
import type { PreprocessSpec } from '../data/preprocess.js';
import type { SessionOptions } from '../engine/session.js';
import { DataError } from '../errors.js';
import type { ModelSpec } from '../models/model-spec.js';
import { isOnnxModelPath, onnxBackboneSpec } from '../models/onnx-backbone.js';
import { getModel } from '../models/registry.js';
import type { NamedTensors } from '../tensor.js';
import { loadInitialParams, type InitialParams } from '../graphs/initial-params.js';
import { assertDeviceUsable } from '../engine/device-check.js';
import { threadCount } from '../engine/thread-count.js';
import type { EventBus, TrainHooks } from './events.js';
import { augmentPreset, requestedModel, type ParsedTrainOptions } from './options.js';

export interface RunSetup {
  spec: ModelSpec;
  folder: ImageFolder;
  classes: readonly string[];
  preprocess: PreprocessSpec;
  trainTransform: Pipeline;
  evalTransform: Pipeline;
  /** Every parameter of the network, starting weights loaded (training changes them in place). */
  params: NamedTensors;
  weightsId: string;
  weightsLabel: string;
  session: SessionOptions;
  threads: number;
}

/** The preprocessing for a crop side (the model's own, or --input-size scaled with the same resize ratio). */
function preprocessFor(spec: ModelSpec, inputSize?: number | null): PreprocessSpec {
  const p = spec.preprocess;
  if (!inputSize || inputSize === p.inputSize) return { ...p, mean: [...p.mean], std: [...p.std] };
  return { ...p, inputSize, resizeSize: Math.round((inputSize * p.resizeSize) / p.inputSize), mean: [...p.mean], std: [...p.std] };
}

/** What a user should hear about the starting weights. */
function startingWeightsNotes(spec: ModelSpec, init: InitialParams, seed: number): string[] {
  const notes: string[] = [];
  if (init.origin.kind === 'none') notes.push(`${spec.name}: no pretrained weights (--weights none): every parameter is initialised at random from seed ${seed}`);
  else if (init.replacedHeadClasses !== null)
    notes.push(
      `The checkpoint's classifier has ${init.replacedHeadClasses} outputs and the model ${init.numClasses}: ${init.initialisedHead.map((n) => `\`${n}\``).join(', ')} are re-initialised, everything else is loaded`,
    );
  else if (init.initialisedHead.length > 0) notes.push(`The classifier \`${spec.head.name}\` is new (${init.numClasses} outputs): initialised like torch.nn.Linear from seed ${seed}`);
  if (init.unused.length > 0)
    notes.push(
      `${init.unused.length} checkpoint tensor(s) are not used by the model: ${init.unused
        .slice(0, 5)
        .map((n) => `\`${n}\``)
        .join(', ')}${init.unused.length > 5 ? ' ...' : ''}`,
    );
  return notes;
}

/** The model: a registered name, a ModelSpec, or an ONNX classifier file (bring your own backbone, src/models/onnx-backbone.ts). */
export function resolveSpec(o: ParsedTrainOptions): ModelSpec {
  const model = requestedModel(o);
  if (typeof model !== 'string') return model;
  if (isOnnxModelPath(model)) return onnxBackboneSpec(model, { cut: o.cut, mean: o.mean, std: o.std, inputSize: o.inputSize, resizeSize: o.resizeSize });
  return getModel(model);
}

/** `resumed`: the run continues from a checkpoint (its threads, unless --threads is given; no notes about initial weights it replaces). */
export async function setUpRun(dataRoot: string, o: ParsedTrainOptions, bus: EventBus, hooks: TrainHooks, resumed?: { threads: number | null }): Promise<RunSetup> {
  await assertDeviceUsable(o.device);
  const spec = resolveSpec(o);
  for (const note of spec.assumedPreprocess ?? []) await bus.emit('log', { level: 'warn', message: `${spec.name}: ${note}` });

  const folder = await scanImageFolder(dataRoot, { valFraction: o.valSplit, seed: o.seed });
  for (const w of folder.warnings) await bus.emit('log', { level: 'warn', message: w });
  if (folder.train.length === 0 || folder.val.length === 0) {
    throw new DataError('E_NO_DATA', `The dataset \`${dataRoot}\` has ${folder.train.length} train and ${folder.val.length} val images; training needs both`, {
      hint: 'add images, or lower --val-split for a root that holds only class folders',
    });
  }

  const preprocess = { ...preprocessFor(spec, o.inputSize), ...(o.mean ? { mean: o.mean } : {}), ...(o.std ? { std: o.std } : {}), ...(o.resizeSize ? { resizeSize: o.resizeSize } : {}) };
  const evalTransform = buildEvalTransform(preprocess);
  const preset = augmentPreset(o.augment);
  const trainTransform = preset === 'none' ? evalTransform : buildPresetTransform(preprocess, preset, { exactAugment: o.exactAugment });
  const threadChoice = threadCount(o.threads ?? resumed?.threads);
  if (threadChoice.note) await bus.emit('log', { level: 'warn', message: threadChoice.note });
  const threads = threadChoice.threads;

  const init = await loadInitialParams(spec, {
    weights: o.weights,
    numClasses: folder.classes.length,
    inputSize: preprocess.inputSize,
    seed: o.seed,
    fetch: {
      onProgress: (bytes, total) => {
        hooks.onDownloadProgress?.(bytes, total);
        void bus.emit('download', { bytes, total: total ?? null });
      },
    },
  });
  // A resumed run replaces the starting weights with the checkpoint's: how they were initialised does not matter.
  if (!resumed) for (const message of startingWeightsNotes(spec, init, o.seed)) await bus.emit('log', { level: 'info', message });
  return {
    spec,
    folder,
    classes: folder.classes,
    preprocess,
    trainTransform,
    evalTransform,
    params: init.params,
    weightsId: init.origin.id,
    weightsLabel: init.origin.label,
    session: { threads, device: o.device },
    threads,
  };
}
