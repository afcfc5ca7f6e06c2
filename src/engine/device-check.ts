/**
 * `--device cuda` is checked before any work: a one-node graph is loaded with ONNX Runtime's
 * CUDA provider (its own log silenced). A build without the provider, or without the CUDA
 * libraries it needs, fails here with one clear error instead of minutes into a run.
 */
import ort from 'onnxruntime-node';
import { EngineError } from '../errors.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import { serializeModel } from '../onnx/serialize.js';

export async function assertDeviceUsable(device: 'cpu' | 'cuda'): Promise<void> {
  if (device === 'cpu') return;
  const hint =
    'install ONNX Runtime with CUDA (`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --dangerously-allow-all-scripts`, with CUDA 12 and cuDNN 9 on the library path) or use --device cpu';
  if (!ort.listSupportedBackends().some((b) => b.name === 'cuda')) {
    throw new EngineError('E_DEVICE', '--device cuda: this onnxruntime-node build has no CUDA provider', { hint });
  }
  const g = new Graph();
  g.output(g.alias(g.input('x', 'float32', [1]), 'y'));
  const level = ort.env.logLevel;
  ort.env.logLevel = 'fatal'; // the provider's load failure is reported below, once
  try {
    const s = await ort.InferenceSession.create(serializeModel(g), { executionProviders: ['cuda'], logSeverityLevel: 4 });
    await s.release();
  } catch (err) {
    throw new EngineError('E_DEVICE', `--device cuda: ONNX Runtime's CUDA provider cannot start here (${(err as Error).message.split('\n')[0]})`, { hint, cause: err });
  } finally {
    ort.env.logLevel = level;
  }
}
