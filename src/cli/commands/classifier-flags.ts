/**
 * The flags predict and evaluate share for a foreign ONNX classifier (one without headstart
 * metadata): --classes (a,b,c or a .json array) and --preprocess (JSON or a .json file).
 */
import { readFileSync } from 'node:fs';
import { PreprocessSpecSchema, type PreprocessSpec } from '../../data/preprocess.js';
/** The flags predict and evaluate share: how the model runs, and what a foreign ONNX model needs. */
export const CLASSIFIER_FLAGS = {
  'batch-size': { type: 'string' },
  threads: { type: 'string' },
  device: { type: 'string' },
  classes: { type: 'string' },
  preprocess: { type: 'string' },
} as const;

import { choiceFlag, intFlag } from '../usage.js';
import { threadCount } from '../../engine/thread-count.js';
import type { CommandIO } from '../command-io.js';
import { describeZodIssues } from '../../zod-issues.js';
import { UsageError } from '../usage.js';

function jsonOrFile(value: string, flag: string): unknown {
  let text = value;
  if (!/^\s*[[{]/.test(value)) {
    try {
      text = readFileSync(value, 'utf8');
    } catch (err) {
      throw new UsageError('E_READ_FAILED', `--${flag}: cannot read \`${value}\`: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
        hint: 'give inline JSON or the path of a .json file',
      });
    }
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError('E_BAD_OPTION', `--${flag} is not valid JSON: ${(err as Error).message}`);
  }
}

export function parseClassesFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (value.endsWith('.json')) {
    const v = jsonOrFile(value, 'classes');
    if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) throw new UsageError('E_BAD_OPTION', '--classes file must hold a JSON array of class names');
    return v;
  }
  const names = value.split(',').map((c) => c.trim());
  if (names.some((c) => c === '')) throw new UsageError('E_BAD_OPTION', `--classes has an empty name in \`${value}\``, { hint: 'give comma-separated names, e.g. --classes cat,dog' });
  return names;
}

export function parsePreprocessFlag(value: string | undefined): PreprocessSpec | undefined {
  if (value === undefined) return undefined;
  const r = PreprocessSpecSchema.safeParse(jsonOrFile(value, 'preprocess'));
  if (!r.success) {
    throw new UsageError('E_BAD_OPTION', `--preprocess: ${describeZodIssues(r.error)}`, {
      hint: '{"inputSize":224,"resizeSize":256,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225],"interpolation":"bilinear"}',
    });
  }
  return r.data;
}

/** --threads above the core count: says it is capped (the session caps it: src/engine/thread-count.ts). */
export function warnAboutThreads(values: { threads?: string }, io: CommandIO): void {
  const note = threadCount(intFlag(values.threads, 'threads')).note;
  if (note) io.err(`warning: ${note}\n`);
}

/** The options the shared flags give predict and evaluate. */
export function classifierOptions(values: { 'batch-size'?: string; threads?: string; device?: string; classes?: string; preprocess?: string; tta?: boolean }) {
  return {
    tta: values.tta ?? false,
    batchSize: intFlag(values['batch-size'], 'batch-size'),
    threads: intFlag(values.threads, 'threads'),
    device: choiceFlag(values.device, 'device', ['cpu', 'cuda'] as const),
    classes: parseClassesFlag(values.classes),
    preprocess: parsePreprocessFlag(values.preprocess),
  };
}
