/**
 * CLI flags generated from an options schema (zod): one flag per leaf field, named after the
 * field in kebab-case (or its `meta({ flag })`), nested objects flattened (`optimizer.momentum`
 * -> `--momentum`), a union of a name and an object (`optimizer: 'sgd' | {...}`) giving a flag
 * for the name and flags for the object's fields. Each value is checked against the same
 * field's schema as the flags are read, so a bad value is a usage error (exit code 2) that
 * names the flag, what it accepts and what was found.
 */
import type { ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { HeadstartError } from '../errors.js';
import { closest } from '../closest-name.js';
import { UsageError } from './usage.js';

export type FlagKind = 'boolean' | 'number' | 'int' | 'string' | 'enum' | 'numbers' | 'auto-or-numbers' | 'optional-string' | 'auto-or-number';

export interface FlagSpec {
  flag: string;
  /** Where the value goes in the options object. */
  path: string[];
  kind: FlagKind;
  /** The field's schema without optional/default wrappers: the value is checked against it. */
  leaf: z.ZodType;
  choices?: readonly string[];
  help: string;
  group: string;
  placeholder: string;
  /** A boolean that defaults to true: the flag is `--no-<name>` and sets false. */
  negated: boolean;
  /** The schema's default, per discriminator value for merged union fields (`{ sgd: 0, adamw: 0.01 }`). */
  defaults?: Record<string, unknown>;
  schemaDefault?: unknown;
}

interface FieldMeta {
  help?: string;
  group?: string;
  flag?: string;
  placeholder?: string;
  kind?: FlagKind;
  defaults?: Record<string, unknown>;
  /** The --help line when it should differ from the option's description (e.g. a --no- flag). */
  flagHelp?: string;
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The field without optional/default/nullable wrappers, its merged meta and its default. */
function unwrap(t: z.ZodType): { inner: z.ZodType; meta: FieldMeta; schemaDefault?: unknown } {
  let cur = t;
  let meta: FieldMeta = { ...(cur.meta() as FieldMeta | undefined) };
  let schemaDefault: unknown;
  while (['optional', 'default', 'nullable'].includes(cur.def.type)) {
    if (cur.def.type === 'default') schemaDefault = (cur.def as unknown as { defaultValue: unknown }).defaultValue;
    cur = (cur.def as unknown as { innerType: z.ZodType }).innerType;
    meta = { ...(cur.meta() as FieldMeta | undefined), ...meta };
  }
  return { inner: cur, meta, schemaDefault };
}

function kindOf(t: z.ZodType): FlagKind {
  switch (t.def.type) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return (t as z.ZodNumber).isInt ? 'int' : 'number';
    case 'enum':
      return 'enum';
    case 'string':
      return 'string';
    case 'tuple':
    case 'array':
      return 'numbers';
    default:
      throw new HeadstartError('E_INTERNAL', `schema-flags: no flag kind for a ${t.def.type} field; give it meta({ kind })`);
  }
}

/** Every flag of an options schema, in schema order. */
export function flagsOf(schema: z.ZodObject): FlagSpec[] {
  const out: FlagSpec[] = [];
  walk(schema, [], 'options', out);
  const seen = new Set<string>();
  for (const f of out) {
    if (seen.has(f.flag)) throw new HeadstartError('E_INTERNAL', `schema-flags: two fields want the flag --${f.flag}; give one meta({ flag })`);
    seen.add(f.flag);
  }
  return out;
}

function walk(schema: z.ZodObject, path: string[], group: string, out: FlagSpec[]): void {
  for (const [key, field] of Object.entries(schema.shape) as [string, z.ZodType][]) {
    if (path.length > 0 && key === 'type') continue; // the discriminator has its own flag (below)
    const { inner, meta, schemaDefault } = unwrap(field);
    const p = [...path, key];
    const grp = meta.group ?? group;
    if (inner.def.type === 'union' && !meta.kind) {
      const members = (inner as z.ZodUnion).options as z.ZodType[];
      const names = members.find((m) => m.def.type === 'enum') as z.ZodEnum | undefined;
      const object = members.find((m) => m.def.type === 'object') as z.ZodObject | undefined;
      if (!names || !object) throw new HeadstartError('E_INTERNAL', `schema-flags: union field \`${p.join('.')}\` needs meta({ kind })`);
      out.push(spec([...p, 'type'], meta.flag ?? kebab(key), 'enum', names, { ...meta, group: grp }, undefined));
      walk(object, p, grp, out);
      continue;
    }
    if (inner.def.type === 'object' && !meta.kind) {
      walk(inner as z.ZodObject, p, grp, out);
      continue;
    }
    out.push(spec(p, meta.flag ?? kebab(key), meta.kind ?? kindOf(inner), inner, { ...meta, group: grp }, schemaDefault));
  }
}

/** The enum of an enum field, or of the enum member of a union (`z.union([z.enum([...]), z.boolean()])` with meta({ kind: 'enum' })). */
function enumOf(leaf: z.ZodType): z.ZodEnum {
  if (leaf.def.type !== 'union') return leaf as z.ZodEnum;
  const e = ((leaf as z.ZodUnion).options as z.ZodType[]).find((m) => m.def.type === 'enum');
  if (!e) throw new HeadstartError('E_INTERNAL', 'schema-flags: an enum-kind union field needs an enum member');
  return e as z.ZodEnum;
}

function spec(path: string[], flag: string, kind: FlagKind, leaf: z.ZodType, meta: FieldMeta, schemaDefault: unknown): FlagSpec {
  const defaults = meta.defaults ? Object.values(meta.defaults) : [];
  const negated = kind === 'boolean' && (schemaDefault === true || (defaults.length > 0 && defaults.every((d) => d === true)));
  const placeholder = meta.placeholder ?? (kind === 'int' ? 'N' : kind === 'number' ? 'X' : kind === 'enum' ? flag.split('-').pop()!.toUpperCase() : kind === 'boolean' ? '' : 'VALUE');
  return {
    flag: negated ? `no-${flag}` : flag,
    path,
    kind,
    leaf,
    ...(kind === 'enum' ? { choices: enumOf(leaf).options.map(String) } : {}),
    help: meta.flagHelp ?? meta.help ?? '',
    group: meta.group ?? 'options',
    placeholder,
    negated,
    ...(meta.defaults ? { defaults: meta.defaults } : {}),
    ...(schemaDefault !== undefined ? { schemaDefault } : {}),
  };
}

/** node:util parseArgs options for the flags. */
export function parseArgsOptions(flags: readonly FlagSpec[]): NonNullable<ParseArgsConfig['options']> {
  return Object.fromEntries(flags.map((f) => [f.flag, { type: f.kind === 'boolean' ? 'boolean' : 'string' }] as const));
}

/** What a numeric field accepts, in words: "a whole number >= 1", "a number > 0 and < 1". */
function describeNumber(t: z.ZodType): string {
  const int = (t as z.ZodNumber).isInt;
  const bounds: string[] = [];
  for (const c of (t.def as { checks?: { _zod: { def: { check: string; value: number; inclusive: boolean } } }[] }).checks ?? []) {
    const d = c._zod.def;
    if (d.check === 'greater_than') bounds.push(int && !d.inclusive ? `>= ${d.value + 1}` : `${d.inclusive ? '>=' : '>'} ${d.value}`);
    if (d.check === 'less_than') bounds.push(int && !d.inclusive ? `<= ${d.value - 1}` : `${d.inclusive ? '<=' : '<'} ${d.value}`);
  }
  return `${int ? 'a whole number' : 'a number'}${bounds.length ? ` ${bounds.join(' and ')}` : ''}`;
}

function coerce(f: FlagSpec, raw: string | boolean): unknown {
  const bad = (expected: string): never => {
    throw new UsageError('E_BAD_OPTION', `--${f.flag} must be ${expected}, found \`${String(raw)}\``, { hint: f.help || `see the command's --help` });
  };
  if (f.kind === 'boolean') return f.negated ? !raw : raw;
  const v = String(raw);
  switch (f.kind) {
    case 'string':
      if (v === '') bad('a non-empty value');
      return v;
    case 'optional-string':
      return v === '' ? true : v;
    case 'enum': {
      if (f.choices!.includes(v)) return v;
      const guess = closest(v, f.choices!);
      throw new UsageError('E_BAD_OPTION', `--${f.flag} must be one of ${f.choices!.join(', ')}, found \`${v}\`${guess ? ` (did you mean ${guess}?)` : ''}`);
    }
    case 'number':
    case 'int': {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || !f.leaf.safeParse(n).success) bad(describeNumber(f.kind === 'number' && f.leaf.def.type !== 'number' ? z.number() : f.leaf));
      return n;
    }
    case 'numbers': {
      const nums = v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
      if (nums.some((n) => !Number.isFinite(n)) || !f.leaf.safeParse(nums).success) bad(`numbers separated by commas (${f.placeholder})`);
      return nums;
    }
    case 'auto-or-number': {
      if (v === 'auto') return v;
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || !f.leaf.safeParse(n).success) bad('`auto` or a positive number');
      return n;
    }
    case 'auto-or-numbers': {
      if (v === 'auto') return v;
      const nums = v.split(',').map((s) => (s.trim() === '' ? NaN : Number(s)));
      if (nums.some((n) => !(n > 0) || !Number.isFinite(n))) bad('`auto` or positive numbers separated by commas (one per class)');
      return nums;
    }
  }
}

/** The options object from parsed flag values: only the flags given, nested by path. */
export function optionsFromFlags(flags: readonly FlagSpec[], values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of flags) {
    const raw = values[f.flag];
    if (raw === undefined) continue;
    let node = out;
    for (const k of f.path.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[f.path[f.path.length - 1]] = coerce(f, raw);
  }
  return out;
}

/** The help lines of the flags, by group, with each flag's default from `defaultOf`. */
export function flagHelp(flags: readonly FlagSpec[], defaultOf: (f: FlagSpec) => string | undefined, groupTitles: Record<string, string> = {}): string {
  const groups = new Map<string, string[]>();
  for (const f of flags) {
    const head = `  --${f.flag}${f.placeholder ? ` ${f.placeholder}` : ''}`;
    const choices = f.kind === 'enum' && !f.help.includes(f.choices![0]) ? ` (${f.choices!.join(', ')})` : '';
    const d = defaultOf(f);
    const text = `${f.help}${choices}${d !== undefined ? ` [default: ${d}]` : ''}`;
    const lines = wrap(text, 56);
    const first = head.length < 24 ? `${head.padEnd(24)}${lines[0]}` : `${head}\n${' '.repeat(24)}${lines[0]}`;
    const rest = lines.slice(1).map((l) => `${' '.repeat(24)}${l}`);
    const list = groups.get(f.group) ?? [];
    list.push([first, ...rest].join('\n'));
    groups.set(f.group, list);
  }
  return [...groups].map(([g, lines]) => `${groupTitles[g] ?? g}:\n${lines.join('\n')}`).join('\n\n');
}

function wrap(text: string, width: number): string[] {
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [''];
}
