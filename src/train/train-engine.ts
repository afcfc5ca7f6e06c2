/**
 * Which engine runs the fine-tuning step (`--engine`): `onnx`, ONNX Runtime running the training graph
 * headstart's autodiff builds; `native`, the all-native oneDNN step (native/headstart_plan.cc, built by
 * `npm run build:native`); `auto`, native where the addon is built, passes its startup self-test and
 * runs every op of the model on the CPU, else ONNX Runtime. `native` where it cannot run is an error
 * saying why; `auto` says why in the run's log line.
 */
import { ConfigError, EngineError } from '../errors.js';
import { nativePlanUnavailable } from '../engine/native-plan.js';
import { nativeSelfTestFailure } from '../graphs/native-self-test.js';
import { compileNativeNetwork } from '../graphs/native-training-session.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { TRAIN_ENGINES } from './options.js';

export interface TrainEngineChoice {
  engine: 'onnx' | 'native';
  /** One line for the run's log: the engine and why. */
  note: string;
}

export interface TrainEngineContext {
  spec: ModelSpec;
  device: 'cpu' | 'cuda';
  batch: number;
  numClasses: number;
  inputSize: number;
  trainable: (name: string) => boolean;
  freezeBn: boolean;
  bnMomentum: number;
  threads: number;
}

export async function chooseTrainEngine(requested: (typeof TRAIN_ENGINES)[number], c: TrainEngineContext): Promise<TrainEngineChoice> {
  if (requested === 'onnx') return { engine: 'onnx', note: 'training step: ONNX Runtime (--engine onnx)' };
  const strict = requested === 'native';
  const fallback = (why: string): TrainEngineChoice => ({ engine: 'onnx', note: `training step: ONNX Runtime (--engine auto: the native engine is not used: ${why})` });
  if (c.device !== 'cpu') {
    if (strict)
      throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--engine native runs on the CPU, found --device ${c.device}`, { hint: 'drop --engine native (or use --engine onnx) with --device cuda' });
    return fallback(`it runs on the CPU and --device is ${c.device}`);
  }
  const missing = nativePlanUnavailable();
  if (missing) {
    if (strict) throw new EngineError('E_DEVICE', `--engine native: ${missing}`, { hint: 'apt-get install -y g++ libdnnl-dev && npm run build:native, or use --engine onnx' });
    return fallback(missing);
  }
  const network = compileNativeNetwork(c.spec, { ...c, mode: 'train' });
  if ('unsupported' in network) {
    if (strict) throw new EngineError('E_UNSUPPORTED_OP', `--engine native cannot run ${c.spec.name}: unsupported ${network.unsupported}`, { hint: 'use --engine onnx (or auto) for this model' });
    return fallback(`${c.spec.name} has an op it lacks: ${network.unsupported}`);
  }
  const failed = await nativeSelfTestFailure(c.threads);
  if (failed) {
    if (strict) throw new EngineError('E_DEVICE', `--engine native: ${failed}`, { hint: 'rebuild the addon (npm run build:native) or use --engine onnx' });
    return fallback(failed);
  }
  return { engine: 'native', note: `training step: native oneDNN engine (--engine ${requested}; self-test passed, ${c.threads} threads)` };
}
