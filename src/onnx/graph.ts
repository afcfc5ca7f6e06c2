import { GraphError, HeadstartError } from '../errors.js';
import type { DType, HostTensor } from '../tensor.js';
import { numel } from '../tensor.js';
import { getOp } from './op-registry.js';

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

  has(name: string): boolean {
    return this.values.has(name);
  }

  info(name: string): ValueInfo {
    const v = this.values.get(name);
    if (!v) throw new GraphError('E_BAD_GRAPH', `Unknown value \`${name}\` in graph`);
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
    if (this.values.has(name)) throw new GraphError('E_BAD_GRAPH', `Duplicate graph input \`${name}\``);
    this.used.add(name);
    const info = { name, dtype, shape: [...shape] };
    this.inputs.push(info);
    this.values.set(name, info);
    return name;
  }

  /** A constant stored in the model file. */
  initializer(name: string, tensor: HostTensor): string {
    if (this.values.has(name)) throw new GraphError('E_BAD_GRAPH', `Duplicate initializer \`${name}\``);
    if (tensor.data.length !== numel(tensor.shape)) {
      throw new GraphError('E_SHAPE_MISMATCH', `Initializer \`${name}\`: shape [${tensor.shape}] needs ${numel(tensor.shape)} values, found ${tensor.data.length}`);
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

  /** Reads the integer values of a constant (initializer) input, e.g. a Reshape's shape. */
  constantInts(name: string): number[] {
    const t = this.initializers.get(name);
    if (!t || (t.dtype !== 'int64' && t.dtype !== 'int32')) {
      throw new GraphError('E_BAD_GRAPH', `Value \`${name}\` must be an integer constant (initializer)`);
    }
    return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
  }

  constantFloats(name: string): number[] | undefined {
    const t = this.initializers.get(name);
    if (!t || t.dtype !== 'float32') return undefined;
    return Array.from(t.data as Float32Array);
  }

  /** Adds a node, infers its outputs' dtypes and shapes, and returns the output names. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, options: NodeOptions = {}): string[] {
    const def = getOp(op);
    for (const i of inputs) {
      if (i !== '' && !this.values.has(i)) throw new GraphError('E_BAD_GRAPH', `Node ${op}: unknown input \`${i}\``);
    }
    const name = this.uniqueName(options.name ?? op);
    const outCount = typeof options.outputs === 'number' ? options.outputs : options.outputs?.length ?? 1;
    const outputs =
      Array.isArray(options.outputs) ? options.outputs.map((o) => this.uniqueName(o)) : Array.from({ length: outCount }, (_, k) => this.uniqueName(`${name}_out${k === 0 ? '' : k}`));
    const node: Node = { op, name, inputs, outputs, attrs };
    let infos: { dtype: DType; shape: Dim[] }[];
    try {
      infos = def.infer(this, node);
    } catch (err) {
      const shapes = inputs.map((i) => (i === '' ? '-' : `[${this.shape(i)}]`)).join(', ');
      throw new GraphError(err instanceof HeadstartError ? err.code : 'E_INTERNAL', `Node \`${name}\` (${op}) with inputs ${shapes}: ${(err as Error).message}`, {
        hint: err instanceof HeadstartError ? err.hint : 'a bug in the shape inference of this op: please report it',
        cause: err,
      });
    }
    outputs.forEach((o, k) => {
      const inf = infos[k];
      if (!inf) throw new GraphError('E_INTERNAL', `Node \`${name}\` (${op}): shape inference gave no output ${k} (a bug in the op's shape inference)`);
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
