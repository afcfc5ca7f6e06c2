import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { Session } from '../src/engine/session.js';
import { HeadstartError } from '../src/errors.js';
import { importGraph } from '../src/onnx/import-graph.js';
import { hasOp } from '../src/onnx/op-registry.js';
import { parseModel, serializeModel, tensorFromProto } from '../src/onnx/serialize.js';
import type { HostTensor } from '../src/tensor.js';

/**
 * The official ONNX backend node tests (Debian's libonnx-testdata): one folder per test with
 * model.onnx and test_data_set_*\/{input,output}_k.pb. Each test whose ops headstart registers
 * is run the way an imported model is: importGraph (headstart's shape inference on every
 * node) -> serializeModel -> ONNX Runtime, then classified.
 */
export const NODE_SUITE_DIR = '/usr/share/libonnx-testdata/data/node';

/** Tests whose expected outputs come from a random generator: no implementation can reproduce them. */
export const EXCLUDED: Record<string, string> = {
  test_training_dropout: 'training-mode Dropout: the expected output depends on the generator that drew the mask',
  test_training_dropout_mask: 'training-mode Dropout: the expected output and mask depend on the generator that drew the mask',
  test_training_dropout_default: 'training-mode Dropout: the expected output depends on the generator that drew the mask',
  test_training_dropout_default_mask: 'training-mode Dropout: the expected output and mask depend on the generator that drew the mask',
};

export type Verdict = { kind: 'pass' } | { kind: 'refused'; code: string; message: string } | { kind: 'wrong'; message: string } | { kind: 'unclear'; message: string };

export interface SuiteTest {
  name: string;
  dir: string;
  ops: string[];
}

const { onnx } = onnxProto;

/** Every test folder, with the ops of its graph. */
export function listSuite(dir = NODE_SUITE_DIR): SuiteTest[] {
  return readdirSync(dir)
    .filter((name) => existsSync(path.join(dir, name, 'model.onnx')))
    .sort()
    .map((name) => {
      const { model } = parseModel(readFileSync(path.join(dir, name, 'model.onnx')));
      return { name, dir: path.join(dir, name), ops: [...new Set((model.graph!.node ?? []).map((n) => (n.domain ? `${n.domain}.` : '') + (n.opType ?? '')))] };
    });
}

/** A test is in scope when every op of its graph is registered (Constant is folded by the importer). */
export function knownOps(t: SuiteTest): boolean {
  return t.ops.every((op) => op === 'Constant' || hasOp(op));
}

function readTensor(file: string): HostTensor {
  return tensorFromProto(onnx.TensorProto.decode(readFileSync(file)));
}

function dataSets(dir: string): string[] {
  return readdirSync(dir)
    .filter((d) => d.startsWith('test_data_set_'))
    .sort()
    .map((d) => path.join(dir, d));
}

function files(set: string, prefix: string): string[] {
  return readdirSync(set)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.pb'))
    .sort((a, b) => Number(a.slice(prefix.length, -3)) - Number(b.slice(prefix.length, -3)))
    .map((f) => path.join(set, f));
}

function asNumbers(t: HostTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** |a - e| <= 1e-5 + 1e-4 |e| elementwise (NaN matches NaN), or exact for integers and booleans. */
export function compareValues(actual: HostTensor, expected: HostTensor): string | undefined {
  const a = asNumbers(actual);
  const e = asNumbers(expected);
  if (a.length !== e.length) return `${a.length} values, expected ${e.length}`;
  const exact = expected.dtype !== 'float32' && expected.dtype !== 'float64';
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]) && Number.isNaN(a[i])) continue;
    if (e[i] === a[i]) continue;
    if (exact || !(Math.abs(a[i] - e[i]) <= 1e-5 + 1e-4 * Math.abs(e[i]))) return `value ${i} is ${a[i]}, expected ${e[i]}`;
  }
  return undefined;
}

/** A refusal is clear when it is a HeadstartError with a specific code whose message names the op and the node. */
function refusal(err: unknown, t: SuiteTest): Verdict {
  if (err instanceof HeadstartError && err.code !== 'E_INTERNAL' && t.ops.some((op) => err.message.includes(op)) && /node/i.test(err.message)) {
    return { kind: 'refused', code: err.code, message: err.message };
  }
  const e = err as Error;
  return { kind: 'unclear', message: `${err instanceof HeadstartError ? err.code : e?.name}: ${e?.message ?? String(err)}` };
}

/** Runs one test: import, compare inferred shapes, serialise, run in ONNX Runtime (one session), compare values. */
export async function runSuiteTest(t: SuiteTest, bytes: Uint8Array = readFileSync(path.join(t.dir, 'model.onnx'))): Promise<Verdict> {
  let graph: ReturnType<typeof importGraph>['graph'];
  try {
    graph = importGraph(bytes).graph;
  } catch (err) {
    return refusal(err, t);
  }
  const sets = dataSets(t.dir);
  try {
    for (const set of sets) [...files(set, 'input_'), ...files(set, 'output_')].forEach(readTensor);
  } catch (err) {
    return { kind: 'wrong', message: `the importer accepted a graph whose test data headstart cannot represent: ${(err as Error).message}` };
  }
  // Input files are numbered by the original model's inputs (a variant may have baked some in).
  const { model } = parseModel(readFileSync(path.join(t.dir, 'model.onnx')));
  const initNames = new Set((model.graph!.initializer ?? []).map((i) => i.name));
  const inputNames = (model.graph!.input ?? []).map((i) => i.name ?? '').filter((n) => !initNames.has(n));
  const outputNames = (model.graph!.output ?? []).map((o) => o.name ?? '');
  // Shapes: every expected output against the shape headstart inferred.
  for (const set of sets) {
    const expected = files(set, 'output_').map(readTensor);
    for (let k = 0; k < outputNames.length; k++) {
      const inferred = graph.info(outputNames[k]);
      const want = expected[k];
      if (!want) continue;
      if (inferred.shape.length !== want.shape.length || inferred.shape.some((d, i) => d >= 0 && d !== want.shape[i])) {
        return { kind: 'wrong', message: `output \`${outputNames[k]}\`: inferred shape [${inferred.shape}], expected [${want.shape}]` };
      }
      if (inferred.dtype !== want.dtype) return { kind: 'wrong', message: `output \`${outputNames[k]}\`: inferred dtype ${inferred.dtype}, expected ${want.dtype}` };
    }
  }
  let session: Session;
  try {
    session = await Session.create(serializeModel(graph), { threads: 1, label: t.name });
  } catch (err) {
    return { kind: 'wrong', message: `the serialised graph does not load: ${(err as Error).message}` };
  }
  try {
    for (const set of sets) {
      const inputs = files(set, 'input_').map(readTensor);
      const expected = files(set, 'output_').map(readTensor);
      const feeds: Record<string, HostTensor> = {};
      inputNames.forEach((n, k) => {
        if (graph.inputs.some((i) => i.name === n)) feeds[n] = inputs[k];
      });
      const out = await session.run(feeds, outputNames);
      for (let k = 0; k < outputNames.length; k++) {
        if (!expected[k]) continue;
        const diff = compareValues(out[outputNames[k]], expected[k]);
        if (diff) return { kind: 'wrong', message: `output \`${outputNames[k]}\` (${path.basename(set)}): ${diff}` };
      }
    }
  } catch (err) {
    return { kind: 'wrong', message: (err as Error).message };
  } finally {
    await session.release();
  }
  return { kind: 'pass' };
}

/** A refusal because a shape-determining input (shape, axes, pads, starts, split) is fed at run time. */
export function isRuntimeShapeInput(v: Verdict): boolean {
  return v.kind === 'refused' && /computed at run time/.test(v.message);
}

/**
 * The same test with its integer graph inputs baked in as initializers (the values of its one
 * data set), as an exporter with constant folding would write them: this pins the shape rules
 * of Reshape, Slice, Squeeze, Unsqueeze, Split, Expand, Pad and ReduceSum with the official data.
 */
export function withConstantInputs(t: SuiteTest): Uint8Array | undefined {
  const sets = dataSets(t.dir);
  if (sets.length !== 1) return undefined;
  const model = onnx.ModelProto.decode(readFileSync(path.join(t.dir, 'model.onnx')));
  const gp = model.graph!;
  const initNames = new Set((gp.initializer ?? []).map((i) => i.name));
  const inputs = (gp.input ?? []).filter((i) => !initNames.has(i.name));
  const inputFiles = files(sets[0], 'input_');
  const kept: onnxProto.onnx.IValueInfoProto[] = [];
  inputs.forEach((vi, k) => {
    const type = vi.type?.tensorType?.elemType;
    if (type === 7 || type === 6) {
      const tp = onnx.TensorProto.decode(readFileSync(inputFiles[k]));
      tp.name = vi.name ?? '';
      gp.initializer = [...(gp.initializer ?? []), tp];
    } else kept.push(vi);
  });
  if (kept.length === inputs.length) return undefined;
  gp.input = kept;
  return onnx.ModelProto.encode(model).finish();
}
