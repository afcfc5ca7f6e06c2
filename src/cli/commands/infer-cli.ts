/**
 * Flag parsing and error printing shared by the predict, evaluate and export commands:
 * strict node:util parseArgs (an unknown flag lists the valid ones), value checks that name
 * the flag, and the exit codes of the CLI contract (1 user error, 2 usage error).
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { HeadstartError } from '../../errors.js';
import { PreprocessSpecSchema, type PreprocessSpec } from '../../data/preprocess.js';

/** A usage error: bad flags or arguments (exit code 2). */
export class UsageError extends Error {}

export function flagList(options: Record<string, unknown>): string {
  return Object.keys(options).map((k) => `--${k}`).join(', ');
}

export function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive whole number, found \`${value}\``);
  return n;
}

export function choice<T extends string>(value: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!choices.includes(value as T)) throw new UsageError(`--${flag} must be one of ${choices.join(', ')}, found \`${value}\``);
  return value as T;
}

function jsonOrFile(value: string, flag: string): unknown {
  const text = value.trim().startsWith('{') || value.trim().startsWith('[') ? value : readFileSync(value, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--${flag} is not valid JSON: ${(err as Error).message}`);
  }
}

export function parseClasses(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  if (value.endsWith('.json')) {
    const v = jsonOrFile(value, 'classes');
    if (!Array.isArray(v) || !v.every((c) => typeof c === 'string')) throw new UsageError('--classes file must hold a JSON array of class names');
    return v;
  }
  return value.split(',').map((c) => c.trim());
}

export function parsePreprocess(value: string | undefined): PreprocessSpec | undefined {
  if (value === undefined) return undefined;
  const r = PreprocessSpecSchema.safeParse(jsonOrFile(value, 'preprocess'));
  if (!r.success) throw new UsageError(`--preprocess: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return r.data;
}

/** Where a command writes (process.stdout/stderr by default; tests pass their own). */
export interface CommandIO {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
}

export const processIO: CommandIO = { stdout: process.stdout, stderr: process.stderr };

/** Prints an error the way every command does; returns the exit code. */
export function reportError(err: unknown, verbose: boolean, command: string, io: CommandIO = processIO): number {
  if (err instanceof UsageError || (err as NodeJS.ErrnoException)?.code?.startsWith?.('ERR_PARSE_ARGS')) {
    io.stderr.write(`error: ${(err as Error).message}\n(see \`headstart ${command} --help\`)\n`);
    return 2;
  }
  if (err instanceof HeadstartError) {
    io.stderr.write(`error: ${err.toLine()}\n`);
    if (verbose && err.stack) io.stderr.write(`${err.stack}\n`);
    return 1;
  }
  if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') {
    io.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
  throw err;
}



type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** Strict parse: unknown flags and missing values are usage errors that list the valid flags. */
export function parseFlags<O extends Options>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node's message goes on about positionals after '--'; its first sentence is what matters.
    const first = (err as Error).message.split(/\.\s/)[0].replace(/\.$/, '');
    throw new UsageError(`${first} (valid flags: ${flagList(options)})`);
  }
}
