import { GraphError } from '../errors.js';
import type { DType } from '../tensor.js';
import type { Dim, Graph, Node } from './graph.js';

export interface OutputInfo {
  dtype: DType;
  shape: Dim[];
}

/**
 * A gradient rule: given the gradients of a node's outputs (undefined where none flows),
 * emit nodes computing the gradients of the inputs flagged in `needs`.
 */
export type GradRule = (g: Graph, node: Node, dOutputs: (string | undefined)[], needs: boolean[]) => (string | undefined)[];

/**
 * A small case the finite-difference test builds for a gradient rule: random float inputs
 * of the given shapes (and fixed extra inputs), one node, gradients checked for `wrt`.
 */
export interface GradCase {
  label: string;
  /** Builds the node on fresh float32 inputs named x0, x1, ... and returns the output to check. */
  build: (g: Graph, inputs: string[]) => string;
  inputShapes: number[][];
  /** Indices of inputs whose gradient is checked (default: all). */
  wrt?: number[];
  /** How to draw input values (default: uniform in [-1, 1]). Positive for Div denominators etc. */
  sample?: 'uniform' | 'positive';
  /** Multiplies sampled values (to reach an activation's kinks, e.g. HardSwish at +-3). */
  scale?: number;
  /** Finite-difference tolerance relative to the largest gradient (default 2e-2). */
  tolerance?: number;
}

export interface OpDef {
  type: string;
  infer: (g: Graph, node: Node) => OutputInfo[];
  grad?: GradRule;
  gradCases?: GradCase[];
}

const registry = new Map<string, OpDef>();

export function registerOp(def: OpDef): void {
  if (registry.has(def.type)) throw new GraphError('E_INTERNAL', `Op ${def.type} is registered twice (a bug in headstart: each op file registers its op once)`);
  registry.set(def.type, def);
}

export function getOp(type: string): OpDef {
  const def = registry.get(type);
  if (!def) throw new GraphError('E_UNSUPPORTED_OP', `Op \`${type}\` is not supported by headstart's graph builder`, { hint: `supported: ${[...registry.keys()].sort().join(', ')}` });
  return def;
}

export function hasOp(type: string): boolean {
  return registry.has(type);
}

export function listOps(): OpDef[] {
  return [...registry.values()];
}

/** Attribute readers with defaults, for inference and gradient rules. */
export function intAttr(node: Node, name: string, fallback: number): number {
  const v = node.attrs[name];
  return typeof v === 'number' ? v : fallback;
}

export function intsAttr(node: Node, name: string, fallback: number[]): number[] {
  const v = node.attrs[name];
  return Array.isArray(v) ? (v as number[]) : fallback;
}

export function floatAttr(node: Node, name: string, fallback: number): number {
  const v = node.attrs[name];
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'float' in v) return v.float;
  return fallback;
}

export function stringAttr(node: Node, name: string, fallback: string): string {
  const v = node.attrs[name];
  return typeof v === 'string' ? v : fallback;
}

/** Normalises a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError('E_BAD_GRAPH', `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function sameShape(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Numpy-style broadcast of two shapes. */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out.push(da);
    else if (da === 1) out.push(db);
    else if (da === -1 || db === -1) out.push(-1);
    else throw new GraphError('E_SHAPE_MISMATCH', `shapes [${a}] and [${b}] do not broadcast`);
  }
  return out;
}

/** Requires every dimension to be known (gradient rules run on static training graphs). */
export function staticShape(g: Graph, name: string): number[] {
  const s = g.shape(name);
  if (s.some((d) => d < 0)) throw new GraphError('E_BAD_GRAPH', `\`${name}\` has a dynamic shape [${s}]; training graphs need static shapes`);
  return s;
}
