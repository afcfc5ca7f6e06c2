/**
 * The CLI's usage errors (exit code 2) and error printing: one line per error
 * (`error: <message> (<hint>)`), a stack only with --verbose. Exit codes: 1 for a user error
 * (a HeadstartError: bad data, weights, a diverged run), 2 for a usage error (unknown flag,
 * bad value, missing argument).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../closest-name.js';
import { HeadstartError, type ErrorCode } from '../errors.js';

/** Bad flags or arguments: exit code 2. */
export class UsageError extends HeadstartError {}

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;
/** The values parseArgs gives for a flag table. */
export type FlagValues<O extends Options> = Parsed<O>['values'];

/** Strict parseArgs: an unknown flag or a missing value is a UsageError that lists the valid flags. */
export function parseFlags<O extends Options>(argv: string[], options: O, command: string): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const names = Object.keys(options).map((k) => `--${k}`);
    const e = err as NodeJS.ErrnoException;
    const unknown = /Unknown option '([^']+)'/.exec(e.message)?.[1];
    if (unknown) {
      const guess = closest(unknown.replace(/^-+/, '').split('=')[0], Object.keys(options));
      throw new UsageError('E_UNKNOWN_OPTION', `unknown flag ${unknown} for \`headstart ${command}\`${guess ? ` (did you mean --${guess}?)` : ''}`, { hint: `valid flags: ${names.join(', ')}` });
    }
    throw new UsageError('E_USAGE', e.message.split('\n').join(' '), { hint: `see \`headstart ${command} --help\`` });
  }
}

export function intFlag(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) throw new UsageError('E_BAD_OPTION', `--${flag} must be a whole number >= ${min}, found \`${value}\``);
  return n;
}

export function choiceFlag<T extends string>(value: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!choices.includes(value as T)) {
    const guess = closest(value, choices);
    throw new UsageError('E_BAD_OPTION', `--${flag} must be one of ${choices.join(', ')}, found \`${value}\`${guess ? ` (did you mean ${guess}?)` : ''}`);
  }
  return value as T;
}

/** Failures of what the user typed: exit code 2, like a usage error. */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set(['E_USAGE', 'E_BAD_OPTION', 'E_UNKNOWN_OPTION', 'E_UNKNOWN_MODEL', 'E_INCOMPATIBLE_OPTIONS']);

/** The exit code of a failure: 2 for bad usage or an invalid option, 1 for anything else. */
function exitCodeOf(err: unknown): number {
  return err instanceof HeadstartError && USAGE_CODES.has(err.code) ? 2 : 1;
}

/** Prints an error as one line (stack with --verbose) and returns the exit code. */
export function reportError(err: unknown, verbose: boolean, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof HeadstartError) {
    write(`error: ${err.toLine()}\n`);
    if (verbose && err.stack) write(`${err.stack}\n`);
    if (verbose && err.cause instanceof Error && err.cause.stack) write(`caused by: ${err.cause.stack}\n`);
    return exitCodeOf(err);
  }
  const e = err as Error;
  write(`error: ${e?.message ?? String(err)}${verbose ? '' : ' (run with --verbose for the stack trace)'}\n`);
  if (verbose && e?.stack) write(`${e.stack}\n`);
  return 1;
}
