/**
 * What `--resume` lets change. A resumed run continues with the settings its checkpoint was
 * trained with: the model, weights, mode, recipe, optimiser, learning rate, batch size,
 * schedule, loss, data split, seed and transforms are fixed by it (the optimiser's momentum,
 * the schedule's position and the split would no longer match). Given again with the same
 * value they are accepted (a command line repeated with --resume added); with another value
 * they are refused, naming each option, the stored value and the given one. The number of
 * epochs, early stopping, the threads, the device and the cache folder may change.
 */
import { ConfigError } from '../errors.js';
import { isOnnxModelPath } from '../models/onnx-backbone.js';
import { resolveTrainConfig, type ParsedTrainOptions, type ResolvedTrainConfig } from './options.js';

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)}`;

function show(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (Array.isArray(v)) return v.map(show).join(',');
  if (typeof v === 'number') return String(Number(v.toPrecision(6)));
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

interface Change {
  flag: string;
  stored: string;
  given: string;
}

/** The fixed options the user gave with values other than the checkpoint's. */
function changedOnResume(given: Readonly<Record<string, unknown>>, o: ParsedTrainOptions, c: ResolvedTrainConfig): Change[] {
  const changes: Change[] = [];
  const has = (k: string) => given[k] !== undefined;
  const plain = [
    'recipe',
    'seed',
    'valSplit',
    'featureViews',
    'labelSmoothing',
    'batchSize',
    'lr',
    'backboneLr',
    'unfreezeLast',
    'inputSize',
    'classWeights',
    'bnMomentum',
    'stochasticDepth',
    'weights',
  ] as const;
  for (const k of plain) {
    if (!has(k)) continue;
    const stored = c[k] ?? null;
    const value = o[k] ?? null;
    if (!same(stored, value)) changes.push({ flag: flagOf(k), stored: show(stored), given: show(value) });
  }
  for (const k of ['augment', 'exactAugment', 'freezeBn'] as const) {
    if (has(k) && o[k] !== c[k]) changes.push({ flag: flagOf(k), stored: String(c[k]), given: String(o[k]) });
  }
  if (has('mode') && o.mode !== 'auto' && o.mode !== c.mode) changes.push({ flag: '--mode', stored: c.mode, given: String(o.mode) });
  if (typeof o.model === 'string' && !isOnnxModelPath(o.model) && o.model !== c.model) changes.push({ flag: '--model', stored: c.model, given: o.model });
  if (has('optimizer') || has('scheduler')) {
    // The optimiser and schedule as the given options would resolve them on top of the run's own recipe, mode and lr.
    let fresh: ResolvedTrainConfig | undefined;
    try {
      fresh = resolveTrainConfig({ ...o, recipe: c.recipe, lr: c.lr, unfreezeLast: undefined }, c.mode, c.model, c.weightsSource);
    } catch {
      fresh = undefined;
    }
    for (const [key, typeFlag] of [
      ['optimizer', '--optimizer'],
      ['scheduler', '--scheduler'],
    ] as const) {
      if (!has(key)) continue;
      const stored = c[key] as unknown as Record<string, unknown>;
      const now = (fresh?.[key] ?? given[key]) as Record<string, unknown> | string;
      const nowObj = typeof now === 'string' ? { type: now } : now;
      for (const field of new Set([...Object.keys(stored), ...Object.keys(nowObj)])) {
        if (field === 'lr' || same(stored[field], nowObj[field]) || nowObj[field] === undefined) continue;
        changes.push({ flag: field === 'type' ? typeFlag : flagOf(field), stored: show(stored[field]), given: show(nowObj[field]) });
      }
    }
  }
  return changes;
}

/** Refuses options given with --resume that the checkpoint fixes and that differ from it. */
export function refuseChangedOnResume(given: Readonly<Record<string, unknown>>, o: ParsedTrainOptions, c: ResolvedTrainConfig, dir: string): void {
  const changes = changedOnResume(given, o, c);
  if (changes.length === 0) return;
  const list = changes.map((x) => `${x.flag} ${x.given} (the run was started with ${x.stored})`).join('; ');
  const flags = changes.map((x) => x.flag).join(', ');
  throw new ConfigError('E_INCOMPATIBLE_OPTIONS', `--resume continues the run in \`${dir}\` with its own settings, which cannot change: ${list}`, {
    hint: `drop ${flags} to continue that run (only --epochs, --early-stop, --threads, --device, --engine and --cache-dir may change on --resume), or start a new run in another --out folder without --resume`,
  });
}
