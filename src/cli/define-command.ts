/**
 * The one shell every command runs in: strict flag parsing with "did you mean", --help,
 * the positional-argument check, and one error format — `error: <message> (<hint>)` on
 * stderr (a stack only with --verbose), a JSON error line on stdout with --json, and the exit
 * code: 2 for bad usage or an invalid option value, 1 for any other failure.
 */
import type { ParseArgsConfig } from 'node:util';
import { HeadstartError } from '../errors.js';
import { processIO, type CommandIO } from './command-io.js';
import { parseFlags, reportError, UsageError, type FlagValues } from './usage.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON = {
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface CommandRun<F extends Options> {
  values: FlagValues<F & typeof COMMON>;
  positionals: string[];
  io: CommandIO;
}

export interface CommandDefinition<F extends Options> {
  name: string;
  /** The whole --help text (a function when it is generated). */
  usage: string | (() => string);
  flags: F;
  /** Positional arguments: how many, and what to say when there are not. */
  positionals: { min: number; max: number; describe: string };
  /** Rewrites argv before parsing (e.g. a flag whose value is optional). */
  normalize?: (argv: string[]) => string[];
  run(c: CommandRun<F>): Promise<number>;
}

export type Command = (argv: string[], io?: CommandIO) => Promise<number>;

export function defineCommand<F extends Options>(def: CommandDefinition<F>): Command {
  return async (argv, io = processIO) => {
    const verbose = argv.includes('--verbose');
    const json = argv.includes('--json');
    try {
      const flags = { ...def.flags, ...COMMON };
      const { values, positionals } = parseFlags(def.normalize ? def.normalize(argv) : argv, flags, def.name);
      if ((values as { help?: boolean }).help) {
        io.out(`${typeof def.usage === 'string' ? def.usage : def.usage()}\n`);
        return 0;
      }
      const { min, max, describe } = def.positionals;
      if (positionals.length < min || positionals.length > max) {
        const message = positionals.length === 0 ? `missing ${describe}` : `expected ${describe}, found ${positionals.length}: ${positionals.join(' ')}`;
        throw new UsageError('E_USAGE', message, { hint: `usage: ${usageLine(def)}` });
      }
      return await def.run({ values: values, positionals, io });
    } catch (err) {
      if (json && err instanceof HeadstartError) io.out(`${JSON.stringify({ event: 'error', code: err.code, message: err.message, hint: err.hint ?? null })}\n`);
      return reportError(err, verbose, (s) => io.err(s));
    }
  };
}

function usageLine(def: CommandDefinition<Options>): string {
  const text = typeof def.usage === 'string' ? def.usage : def.usage();
  return /^usage: (.*)$/m.exec(text)?.[1] ?? `headstart ${def.name} --help`;
}
