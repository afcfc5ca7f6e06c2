import { GraphError, HeadstartError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';
import { numel } from '../tensor.js';

/** Shape and dtype inference of a node, per op type. */
export type ShapeRule = (g: Graph, node: Node) => { dtype: DType; shape: Dim[] }[];

// Filled by the op registry (src/onnx/op-registry.ts) as each op family registers, so the
// graph needs no import of the registry (the registry's rules take a Graph).
const shapeRules = new Map<string, ShapeRule>();

export function setShapeRule(type: string, rule: ShapeRule): void {
  shapeRules.set(type, rule);
}

/** A dimension: a size, or -1 for a dynamic one (the batch of an inference graph). */
export type Dim = number;

export interface ValueInfo {
  name: string;
  dtype: DType;
  shape: Dim[];
}

/** A float attribute; plain numbers are written as ints unless the name is a known float. */
export type AttrValue = number | number[] | string | string[] | HostTensor | { floats: number[] } | { float: number };

export interface Node {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

export interface NodeOptions {
  /** Output names, or how many outputs to create with generated names (default 1). */
  outputs?: string[] | number;
  name?: string;
  /** Use the output names as given (an imported graph's names), instead of making them unique. */
  exactOutputs?: boolean;
}

/**
 * An ONNX graph under construction. Every value has a static dtype and shape, inferred
 * when its node is added, so gradient rules and builders can read shapes directly.
 */
export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializers = new Map<string, HostTensor>();
  readonly values = new Map<string, ValueInfo>();
  /** Facts about nodes that ONNX attributes cannot carry (read by gradient rules), by node name. */
  readonly notes = new Map<string, Record<string, unknown>>();
  private readonly used = new Set<string>();
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  uniqueName(base: string): string {
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  /** Keeps generated names (constants, helper nodes) clear of names an imported graph will use. */
  reserve(names: Iterable<string>): void {
    for (const n of names) if (n) this.used.add(n);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  info(name: string): ValueInfo {
    const v = this.values.get(name);
    if (!v) throw new GraphError('E_BAD_GRAPH', `Unknown value \`${name}\` in graph`, { hint: 'every value must be a graph input, an initializer or a node output' });
    return v;
  }

  shape(name: string): Dim[] {
    return this.info(name).shape;
  }

  dtype(name: string): DType {
    return this.info(name).dtype;
  }

  /** A graph input (a batch, or a parameter fed at every run). */
  input(name: string, dtype: DType, shape: Dim[]): string {
    if (this.values.has(name)) throw new GraphError('E_BAD_GRAPH', `Duplicate graph input \`${name}\``, { hint: 'value names must be unique' });
    this.used.add(name);
    const info = { name, dtype, shape: [...shape] };
    this.inputs.push(info);
    this.values.set(name, info);
    return name;
  }

  /** A constant stored in the model file. */
  initializer(name: string, tensor: HostTensor): string {
    if (this.values.has(name)) throw new GraphError('E_BAD_GRAPH', `Duplicate initializer \`${name}\``, { hint: 'value names must be unique' });
    if (tensor.data.length !== numel(tensor.shape)) {
      throw new GraphError('E_SHAPE_MISMATCH', `Initializer \`${name}\`: shape [${tensor.shape}] needs ${numel(tensor.shape)} values, found ${tensor.data.length}`, {
        hint: 'the file may be truncated',
      });
    }
    this.used.add(name);
    this.initializers.set(name, tensor);
    this.values.set(name, { name, dtype: tensor.dtype, shape: [...tensor.shape] });
    return name;
  }

  /** An int64 constant (shapes, axes, pads), shared between nodes. */
  ints(values: readonly number[], shape: number[] = [values.length]): string {
    const key = `i64:${shape}:${values}`;
    const cached = this.constCache.get(key);
    if (cached) return cached;
    const name = this.initializer(this.uniqueName('const_i64'), {
      dtype: 'int64',
      shape,
      data: BigInt64Array.from(values.map((v) => BigInt(v))),
    });
    this.constCache.set(key, name);
    return name;
  }

  /** A float32 constant, shared between nodes when small. */
  floats(values: readonly number[] | Float32Array, shape: number[] = [values.length]): string {
    const small = values.length <= 16;
    const key = small ? `f32:${shape}:${Array.from(values)}` : '';
    if (small) {
      const cached = this.constCache.get(key);
      if (cached) return cached;
    }
    const name = this.initializer(this.uniqueName('const_f32'), {
      dtype: 'float32',
      shape,
      data: Float32Array.from(values),
    });
    if (small) this.constCache.set(key, name);
    return name;
  }

  scalar(value: number): string {
    return this.floats([value], []);
  }

  /**
   * Reads the integer values of a constant (initializer) input, e.g. a Reshape's shape.
   * `role` names the input in errors (`shape`, `axes`): headstart infers static shapes, so an
   * input that determines a shape must be known when the graph is built, not fed at run time.
   */
  constantInts(name: string | undefined, role = 'input'): number[] {
    if (!name) throw new GraphError('E_BAD_GRAPH', `the \`${role}\` input is missing`, { hint: 'give it as an initializer or a Constant node' });
    const t = this.initializers.get(name);
    if (!t) {
      throw new GraphError('E_UNSUPPORTED_OP', `its \`${role}\` input \`${name}\` is computed at run time, but headstart needs shape-determining inputs as constants`, {
        hint: 'give it as an initializer or a Constant node (export the model with constant folding)',
      });
    }
    if (t.dtype !== 'int64' && t.dtype !== 'int32') {
      throw new GraphError('E_BAD_GRAPH', `its \`${role}\` input \`${name}\` is ${t.dtype}, expected int64`, { hint: 'shapes, axes and pads are int64 tensors in ONNX' });
    }
    return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  constantFloats(name: string): number[] | undefined {
    const t = this.initializers.get(name);
    if (!t || t.dtype !== 'float32') return undefined;
    return Array.from(t.data as Float32Array);
  }

  private claim(name: string, op: string): string {
    if (this.values.has(name)) throw new GraphError('E_BAD_GRAPH', `${op} node output \`${name}\` is already defined`, { hint: 'every value must be produced once (SSA)' });
    this.used.add(name);
    return name;
  }

  /** Adds a node, infers its outputs' dtypes and shapes, and returns the output names. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, options: NodeOptions = {}): string[] {
    const infer = shapeRules.get(op);
    if (!infer) throw new GraphError('E_UNSUPPORTED_OP', `Op \`${op}\` is not supported by headstart's graph builder`, { hint: `supported: ${[...shapeRules.keys()].sort().join(', ')}` });
    for (const i of inputs) {
      if (i !== '' && !this.values.has(i))
        throw new GraphError('E_BAD_GRAPH', `Node \`${options.name ?? op}\` (${op}): unknown input \`${i}\``, {
          hint: "every input must be a graph input, an initializer or an earlier node's output",
        });
    }
    const name = this.uniqueName(options.name ?? op);
    const outCount = typeof options.outputs === 'number' ? options.outputs : (options.outputs?.length ?? 1);
    const outputs = Array.isArray(options.outputs)
      ? options.outputs.map((o) => (options.exactOutputs ? this.claim(o, op) : this.uniqueName(o)))
      : Array.from({ length: outCount }, (_, k) => this.uniqueName(`${name}_out${k === 0 ? '' : k}`));
    const node: Node = { op, name, inputs, outputs, attrs };
    let infos: { dtype: DType; shape: Dim[] }[];
    try {
      infos = infer(this, node);
    } catch (err) {
      const shapes = inputs.map((i) => (i === '' ? '-' : `[${this.shape(i)}]`)).join(', ');
      const inner = err instanceof HeadstartError ? err : undefined;
      const code = inner && inner.code !== 'E_INTERNAL' ? inner.code : 'E_BAD_GRAPH';
      throw new GraphError(code, `Node \`${name}\` (${op}) with inputs ${shapes}: ${(err as Error).message}`, { cause: err, hint: inner?.hint });
    }
    outputs.forEach((o, k) => {
      const inf = infos[k];
      if (!inf) throw new GraphError('E_BAD_GRAPH', `Node \`${name}\` (${op}) has ${outputs.length} outputs, but ${op} gives ${infos.length}`, { hint: 'remove the extra outputs from the node' });
      this.values.set(o, { name: o, dtype: inf.dtype, shape: inf.shape });
    });
    this.nodes.push(node);
    return outputs;
  }

  /** Adds a single-output node and returns its output name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(op, inputs, attrs, name ? { name } : {})[0];
  }

  /** Marks a value as a graph output. */
  output(name: string): void {
    if (this.outputs.some((o) => o.name === name)) return;
    this.outputs.push(this.info(name));
  }

  /** Renames a value to `name` with an Identity node (graph outputs with stable names). */
  alias(value: string, name: string): string {
    return this.node('Identity', [value], {}, { outputs: [name] })[0];
  }
}
