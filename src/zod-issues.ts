/**
 * One wording for zod validation failures: `path: message; path: message`, with `(root)` for
 * the value itself, and one way to turn them into a ConfigError (E_BAD_OPTION).
 */
import type { z } from 'zod';
import { ConfigError } from './errors.js';

/** The issues of a zod error on one line: `a.b: message; c: message` (the first `max` of them). */
export function describeZodIssues(error: z.ZodError, max = Infinity): string {
  const shown = error.issues.slice(0, max).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  const more = error.issues.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
}

/**
 * Parses `value` with `schema`; a value the schema refuses throws ConfigError E_BAD_OPTION
 * `${what}: <issues>` (e.g. what = 'createLoader: invalid options').
 */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string, hint?: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ConfigError('E_BAD_OPTION', `${what}: ${describeZodIssues(r.error)}`, hint === undefined ? undefined : { hint });
  return r.data;
}
