/**
 * The flags of `headstart train` and `headstart compare`, generated from the train options
 * schema (src/train/options.ts): their parseArgs table, their --help text with each default
 * (the recipe's, else the schema's), and their conversion into train options.
 */
import { CompareOptionsSchema, RECIPES, TrainOptionsSchema, type ConcreteMode, type TrainOptions } from '../train/options.js';
import { flagHelp, flagsOf, optionsFromFlags, parseArgsOptions, type FlagSpec } from './schema-flags.js';

const TRAIN_FLAG_SPECS = flagsOf(TrainOptionsSchema);
export const COMPARE_FLAG_SPECS = flagsOf(CompareOptionsSchema);

const OUTPUT = { json: { type: 'boolean' } } as const;
export const TRAIN_FLAGS = { ...parseArgsOptions(TRAIN_FLAG_SPECS), ...OUTPUT };
export const COMPARE_FLAGS = { ...parseArgsOptions(COMPARE_FLAG_SPECS), ...OUTPUT };

const GROUP_TITLES = { model: 'model and weights', optimisation: "optimisation (defaults: the recipe's)", data: 'data', run: 'run' };

const show = (v: unknown): string =>
  Array.isArray(v) ? v.map(show).join(',') : typeof v === 'number' ? (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : String(Number(v.toPrecision(4)))) : String(v);

function at(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const k of path) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

/** A flag's default for --help: the torchvision recipe's (with floydhub's where it differs), else the schema's. */
function defaultOf(f: FlagSpec): string | undefined {
  if (f.kind === 'boolean') return undefined;
  const recipe = (name: keyof typeof RECIPES, mode: ConcreteMode) => {
    const r = RECIPES[name];
    return at({ ...r, optimizer: { ...r.optimizer, ...r.modes?.[mode]?.optimizer } }, f.path);
  };
  const tv = recipe('torchvision', 'finetune');
  if (tv !== undefined) {
    const others: string[] = [];
    for (const n of ['floydhub', 'fastai'] as const) {
      const ft = recipe(n, 'finetune');
      const fe = recipe(n, 'features');
      if (ft !== undefined && ft !== tv) others.push(`${n}: ${show(ft)}`);
      if (fe !== undefined && fe !== ft) others.push(`${n} features: ${show(fe)}`);
    }
    // A field of another optimiser or schedule type keeps that type's own default.
    const type = at(RECIPES.torchvision, [...f.path.slice(0, -1), 'type']);
    for (const [t, v] of Object.entries(f.defaults ?? {})) if (t !== type && v !== tv) others.push(`${t}: ${show(v)}`);
    return [show(tv), ...others].join('; ');
  }
  if (f.schemaDefault !== undefined) return show(f.schemaDefault);
  if (f.defaults) {
    const byValue = new Map<string, string[]>();
    for (const [type, v] of Object.entries(f.defaults)) byValue.set(show(v), [...(byValue.get(show(v)) ?? []), type]);
    return byValue.size === 1 ? [...byValue.keys()][0] : [...byValue].map(([v, types]) => `${types.join('/')} ${v}`).join(', ');
  }
  return undefined;
}

export function trainFlagHelp(specs: readonly FlagSpec[] = TRAIN_FLAG_SPECS): string {
  const run = '  --json                one JSON object per line on stdout (epoch events, then done)\n  --verbose             stack traces on errors\n  -h, --help            this help';
  return `${flagHelp(specs, defaultOf, GROUP_TITLES)}\n${run}`;
}

/** Train options from parsed flags (only the flags given: the recipe fills the rest). */
export function trainOptionsFromFlags(values: Record<string, string | boolean | undefined>, specs: readonly FlagSpec[] = TRAIN_FLAG_SPECS): TrainOptions {
  return optionsFromFlags(specs, values);
}

/** `--resume` may stand alone (resume --out): give it an empty value so parseArgs accepts it. */
export function normaliseResume(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--resume' && (i + 1 >= argv.length || argv[i + 1].startsWith('-'))) out.push('--resume=');
    else out.push(a);
  }
  return out;
}
