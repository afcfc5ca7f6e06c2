/**
 * The native engine's startup self-test: a small residual network (every op the native executor runs:
 * Conv, BatchNorm+ReLU, MaxPool, Add+ReLU, GlobalAveragePool, Flatten, Gemm; then EfficientNet's and
 * MobileNetV3's: squeeze-excitation with conv biases, SiLU, Sigmoid, ReLU, HardSigmoid and the broadcast
 * Mul, HardSwish, a linear layer inside the features) takes one training step on
 * the native engine and on ONNX Runtime from the same parameters and inputs; loss, logits, every
 * gradient and every running statistic must agree to 1e-3 (float32 with different summation orders
 * agree to ~1e-5 here; a broken build or a miscompiled kernel is far off). Run once per process.
 */
import type { ModelSpec } from '../models/model-spec.js';
import { IMAGENET_PREPROCESS_MODEL } from '../models/imagenet-preprocess.js';
import { initParams } from '../models/init-params.js';
import type { NetBuilder } from '../models/net-builder.js';
import { crossEntropyCoefficients } from '../onnx/cross-entropy.js';
import { silu } from '../onnx/ops/index.js';
import { Random } from '../random.js';
import type { NamedTensors } from '../tensor.js';
import { NativeTrainingSession } from './native-training-session.js';
import { buildTrainingGraph } from './network-graph.js';
import { TrainingSession } from './training-session.js';

const TOLERANCE = 1e-3;

function features(b: NetBuilder, images: string): string {
  let x = b.relu(b.batchNorm2d(b.conv2d(images, 'conv1', 8, { kernel: 3, stride: 2, padding: 1 }), 'bn1'));
  x = b.g.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let y = b.relu(b.batchNorm2d(b.conv2d(x, 'block.conv1', 16, { kernel: 3, stride: 2, padding: 1 }), 'block.bn1'));
  y = b.batchNorm2d(b.conv2d(y, 'block.conv2', 16, { kernel: 3, padding: 1 }), 'block.bn2');
  const shortcut = b.batchNorm2d(b.conv2d(x, 'block.downsample.0', 16, { kernel: 1, stride: 2 }), 'block.downsample.1');
  x = b.relu(b.g.op('Add', [y, shortcut]));
  // EfficientNet's squeeze-excitation (SiLU inside, Sigmoid gate), then MobileNetV3's (ReLU, HardSigmoid).
  let s = silu(b.g, b.conv2d(b.g.op('GlobalAveragePool', [x]), 'se.fc1', 4, { kernel: 1, bias: true }));
  x = b.g.op('Mul', [b.g.op('Sigmoid', [b.conv2d(s, 'se.fc2', 16, { kernel: 1, bias: true })]), x]);
  x = b.g.op('HardSwish', [x]);
  s = b.relu(b.conv2d(b.g.op('GlobalAveragePool', [x]), 'se2.fc1', 4, { kernel: 1, bias: true }));
  x = b.g.op('Mul', [b.g.op('HardSigmoid', [b.conv2d(s, 'se2.fc2', 16, { kernel: 1, bias: true })], { alpha: 1 / 6, beta: 0.5 }), x]);
  // MobileNetV3's pre-logits linear layer + HardSwish.
  return b.g.op('HardSwish', [b.linear(b.g.op('Flatten', [b.g.op('GlobalAveragePool', [x])], { axis: 1 }), 'pre', 16)]);
}

const SELF_TEST_SPEC: ModelSpec = {
  name: 'native-self-test',
  description: 'a small residual network for the native engine self-test',
  features,
  featureDim: 16,
  head: { name: 'fc', dropout: 0 },
  bnMomentum: 0.1,
  stages: ['conv1', 'bn1', 'block', 'se', 'se2', 'pre', 'fc'],
  preprocess: { ...IMAGENET_PREPROCESS_MODEL, inputSize: 32 },
  weights: [],
};

function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-3;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

async function runSelfTest(threads: number): Promise<string | undefined> {
  const batch = 4;
  const classes = 3;
  const options = { batch, numClasses: classes, inputSize: 32, trainable: () => true };
  const graph = buildTrainingGraph(SELF_TEST_SPEC, options);
  const onnxParams = initParams(graph.params, 11);
  const nativeParams: NamedTensors = new Map([...onnxParams].map(([n, t]) => [n, { ...t, data: (t.data as Float32Array).slice() }]));
  const native = NativeTrainingSession.create(SELF_TEST_SPEC, { ...options, threads }, nativeParams);
  if ('unsupported' in native) return `the self-test network is unsupported: ${native.unsupported}`;
  const onnx = await TrainingSession.create(graph, onnxParams, { threads: 1 });
  try {
    const r = new Random(12);
    const images = Float32Array.from({ length: batch * 3 * 32 * 32 }, () => r.uniform(-2, 2));
    const targets = crossEntropyCoefficients([0, 1, 2, 1], classes);
    const a = await onnx.step(images, targets);
    const b = await native.step(images, targets);
    const checks: [string, number][] = [
      ['loss', Math.abs(a.loss - b.loss) / Math.max(Math.abs(a.loss), 1e-3)],
      ['logits', maxRelError(b.logits, a.logits)],
      ...[...a.grads].map(([n, g]): [string, number] => [`gradient of ${n}`, b.grads.has(n) ? maxRelError(b.grads.get(n)!, g) : Infinity]),
      ...graph.running.map((n): [string, number] => [n, maxRelError(nativeParams.get(n)!.data as Float32Array, onnxParams.get(n)!.data as Float32Array)]),
    ];
    const bad = checks.find(([, e]) => !(e <= TOLERANCE));
    return bad ? `its self-test failed: ${bad[0]} differs from ONNX Runtime's by ${bad[1].toExponential(2)} (tolerance ${TOLERANCE})` : undefined;
  } finally {
    await onnx.release();
    await native.release();
  }
}

const results = new Map<number, Promise<string | undefined>>();

/** Why the native engine failed its self-test, or undefined when it passed (memoised per thread count). */
export function nativeSelfTestFailure(threads: number): Promise<string | undefined> {
  let r = results.get(threads);
  if (!r) {
    r = runSelfTest(threads).catch((err: unknown) => `its self-test failed to run: ${(err as Error).message}`);
    results.set(threads, r);
  }
  return r;
}
