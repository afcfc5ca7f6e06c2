/**
 * Whether training graphs use ONNX Runtime's blocked-layout convolutions (src/onnx/blocked-convs.ts),
 * decided once per process by a startup self-test: the NCHWc block size is read from a
 * ReorderInput of a 4-channel tensor, then a blocked 3x3 conv and a blocked stem-like conv
 * (3 input channels, 7x7 stride 2) must match plain Conv. If the contrib ops are missing or
 * wrong (another ONNX Runtime build), training falls back to the plain-op graph.
 *
 * HEADSTART_BLOCKED_CONV=1 turns the rewrite on, =0 off (the plain graph, as onnxruntime-web
 * runs); unset: BLOCKED_BY_DEFAULT. HEADSTART_BLOCKED_CONV_MIN=<pixels> sets the smallest input
 * resolution rewritten (default 28).
 */
import ort from 'onnxruntime-node';
import { blockConvs, type BlockedConvOptions } from '../onnx/blocked-convs.js';
import { Graph } from '../onnx/graph.js';
import '../onnx/ops/index.js';
import { serializeModel } from '../onnx/serialize.js';

/** Below this input size the plain im2col Conv measured faster than the blocked one (7x7 stages). */
const DEFAULT_MIN_SIZE = 28;

/**
 * Off until a quiet-machine bench:engine shows the blocked graph faster: on the loaded 2-core
 * machine of issue 10 its A/B was not conclusively ahead (see the branch's report).
 */
const BLOCKED_BY_DEFAULT = false;

let cached: Promise<{ block: number } | undefined> | undefined;

/** The blocked-layout settings for this process, or undefined for plain convolutions. */
export function blockedConvLayout(env: NodeJS.ProcessEnv = process.env): Promise<BlockedConvOptions | undefined> {
  const setting = env.HEADSTART_BLOCKED_CONV;
  const on = setting === undefined || setting === '' ? BLOCKED_BY_DEFAULT : setting === '1' || setting === 'on';
  if (!on) return Promise.resolve(undefined);
  const min = Number(env.HEADSTART_BLOCKED_CONV_MIN ?? DEFAULT_MIN_SIZE);
  const minSize = Number.isFinite(min) && min >= 1 ? min : DEFAULT_MIN_SIZE;
  const test = (cached ??= selfTest().catch(() => undefined));
  return test.then((r) => (r === undefined ? undefined : { block: r.block, minSize }));
}

const sessionOptions: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, graphOptimizationLevel: 'all', logSeverityLevel: 4 };

async function probeBlockSize(): Promise<number> {
  const g = new Graph();
  const x = g.input('x', 'float32', [1, 4, 1, 1]);
  g.output(g.alias(g.op('Shape', [g.op('nchwc:ReorderInput', [x])]), 'shape'));
  const s = await ort.InferenceSession.create(serializeModel(g), sessionOptions);
  try {
    const r = await s.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
    return Number((r.shape.data as BigInt64Array)[1]);
  } finally {
    await s.release();
  }
}

/** Two convolutions on graph-input weights; returns the graph so it can be rewritten. */
function testGraph(block: number): Graph {
  const g = new Graph();
  const x = g.input('x', 'float32', [2, block, 9, 9]);
  const w = g.input('w', 'float32', [2 * block, block, 3, 3]);
  const s = g.input('s', 'float32', [2, 3, 13, 13]);
  const ws = g.input('ws', 'float32', [block, 3, 7, 7]);
  const b = g.input('b', 'float32', [block]);
  g.output(g.alias(g.op('Conv', [x, w], { pads: [1, 1, 1, 1] }), 'y'));
  g.output(g.alias(g.op('Conv', [s, ws, b], { strides: [2, 2], pads: [3, 3, 3, 3] }), 'z'));
  return g;
}

async function selfTest(): Promise<{ block: number } | undefined> {
  const block = await probeBlockSize();
  if (!Number.isInteger(block) || block < 4 || block > 64) return undefined;
  const plain = testGraph(block);
  const blocked = testGraph(block);
  if (blockConvs(blocked, { block, minSize: 1 }) !== 2) return undefined;
  let seed = 1;
  const rand = (n: number) =>
    Float32Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 1073741824 - 1;
    });
  const feeds: Record<string, ort.Tensor> = {};
  for (const i of plain.inputs) feeds[i.name] = new ort.Tensor('float32', rand(i.shape.reduce((a, c) => a * c, 1)), i.shape);
  const results: Record<string, ort.Tensor>[] = [];
  for (const g of [plain, blocked]) {
    const s = await ort.InferenceSession.create(serializeModel(g), sessionOptions);
    try {
      results.push(await s.run(feeds));
    } finally {
      await s.release();
    }
  }
  for (const name of ['y', 'z']) {
    const a = results[0][name].data as Float32Array;
    const c = results[1][name].data as Float32Array;
    if (a.length !== c.length || results[1][name].dims.join() !== results[0][name].dims.join()) return undefined;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(a[i]));
      diff = Math.max(diff, Math.abs(a[i] - c[i]));
    }
    if (!(diff <= 1e-4 * Math.max(1, scale))) return undefined;
  }
  return { block };
}
