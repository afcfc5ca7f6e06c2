/**
 * Which engine runs the fine-tuning step (`--engine`): `onnx`, ONNX Runtime running the training graph
 * headstart's autodiff builds; `native`, the all-native oneDNN step (native/headstart_plan.cc, built by
 * `npm run build:native`); `auto`, native where the addon is built, passes its startup self-test and
 * runs every op of the model on the CPU, else ONNX Runtime. `native` where it cannot run is an error
 * saying why; `auto` says why in the run's log line. The val phase (the eval-mode forward) runs on the
 * native engine too wherever the native engine is usable and supports the model's eval graph, else on
 * ONNX Runtime, the reason in the same line.
 */
import { ConfigError, EngineError } from '../errors.js';
import { nativePlanUnavailable } from '../engine/native-plan.js';
import { nativeSelfTestFailure } from '../graphs/native-self-test.js';
import { compileNativeNetwork } from '../graphs/native-training-session.js';
import type { ModelSpec } from '../models/model-spec.js';
import type { TRAIN_ENGINES } from './options.js';

export interface TrainEngineChoice {
  engine: 'onnx' | 'native';
  /** The engine of the val phase (eval-mode logits). */
  val: 'onnx' | 'native';
  /** One line for the run's log: the engines and why. */
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
  /** Stochastic depth's rate (the run's resolved --stochastic-depth). */
  stochasticDepth?: number;
  threads: number;
  /** Cached partial fine-tuning: the plans start from this value (the frozen stages' cached output), not the images. */
  cut?: string;
}

/**
 * Why `--engine native` cannot run `spec` on this machine (the addon missing or disabled, --device not
 * the CPU, an op of the model's training step the native executor lacks), as the error the run throws;
 * undefined where nothing rules it out before the run. Cheap (no self-test, no data): train() checks it
 * before scanning the dataset.
 */
export function nativeEngineBlocker(spec: ModelSpec, o: { device: 'cpu' | 'cuda'; inputSize?: number; freezeBn: boolean }): ConfigError | EngineError | undefined {
  if (o.device !== 'cpu')
    return new ConfigError('E_INCOMPATIBLE_OPTIONS', `--engine native runs on the CPU, found --device ${o.device}`, { hint: 'drop --engine native (or use --engine onnx) with --device cuda' });
  const missing = nativePlanUnavailable();
  if (missing)
    return new EngineError('E_DEVICE', `--engine native cannot run ${spec.name}: ${missing}`, { hint: 'apt-get install -y g++ libdnnl-dev && npm run build:native, or use --engine auto (or onnx)' });
  const network = compileNativeNetwork(spec, { batch: 2, numClasses: 2, inputSize: o.inputSize, mode: 'train', trainable: () => true, freezeBn: o.freezeBn });
  if ('unsupported' in network)
    return new EngineError('E_UNSUPPORTED_OP', `--engine native cannot run ${spec.name}: unsupported ${network.unsupported}`, { hint: 'use --engine auto (or onnx) for this model' });
  return undefined;
}

export async function chooseTrainEngine(requested: (typeof TRAIN_ENGINES)[number], c: TrainEngineContext): Promise<TrainEngineChoice> {
  if (requested === 'onnx') return { engine: 'onnx', val: 'onnx', note: 'training step and val phase: ONNX Runtime (--engine onnx)' };
  const strict = requested === 'native';
  const fallback = (why: string): TrainEngineChoice => ({
    engine: 'onnx',
    val: 'onnx',
    note: `training step and val phase: ONNX Runtime (--engine auto: the native engine is not used: ${why})`,
  });
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
  if ('unsupported' in network && strict)
    throw new EngineError('E_UNSUPPORTED_OP', `--engine native cannot run ${c.spec.name}: unsupported ${network.unsupported}`, { hint: 'use --engine onnx (or auto) for this model' });
  const evalNetwork = compileNativeNetwork(c.spec, { batch: c.batch, numClasses: c.numClasses, inputSize: c.inputSize, threads: c.threads, mode: 'eval', cut: c.cut });
  if ('unsupported' in network && 'unsupported' in evalNetwork) return fallback(`${c.spec.name} has an op it lacks: ${network.unsupported}`);
  const failed = await nativeSelfTestFailure(c.threads);
  if (failed) {
    if (strict) throw new EngineError('E_DEVICE', `--engine native: ${failed}`, { hint: 'rebuild the addon (npm run build:native) or use --engine onnx' });
    return fallback(failed);
  }
  const how = `--engine ${requested}; self-test passed, ${c.threads} threads`;
  if ('unsupported' in network)
    return {
      engine: 'onnx',
      val: 'native',
      note: `training step: ONNX Runtime (--engine auto: the native engine is not used: ${c.spec.name} has an op it lacks: ${network.unsupported}); val phase: native oneDNN engine (${how})`,
    };
  if ('unsupported' in evalNetwork)
    return {
      engine: 'native',
      val: 'onnx',
      note: `training step: native oneDNN engine (${how}); val phase: ONNX Runtime (the eval graph has an op the native engine lacks: ${evalNetwork.unsupported})`,
    };
  return { engine: 'native', val: 'native', note: `training step and val phase: native oneDNN engine (${how})` };
}
