/**
 * One wording for zod validation failures: `path: message; path: message`, with `(root)` for
 * the value itself, and one way to turn them into a ConfigError (E_BAD_OPTION).
 */
import type { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * The issues of a zod error on one line: `a.b: message; c: message` (the first `max` of them).
 * A refused choice lists the valid values; an unknown key lists the valid keys of `schema`.
 */
export function describeZodIssues(error: z.ZodError, max = Infinity, schema?: z.ZodObject): string {
  const shown = error.issues.slice(0, max).map((i) => {
    const key = i.path.map(String).join('.') || '(root)';
    if (i.code === 'unrecognized_keys') {
      const where = i.path.length ? ` in \`${key}\`` : '';
      return `unknown option(s) ${i.keys.map((k) => `\`${k}\``).join(', ')}${where}${schema && !i.path.length ? ` (valid: ${Object.keys(schema.shape).join(', ')})` : ''}`;
    }
    const choices = i.code === 'invalid_value' ? i.values.map(String) : unionChoices(i);
    return `${key}: ${i.message}${choices ? ` (valid: ${choices.join(', ')})` : ''}`;
  });
  const more = error.issues.length - shown.length;
  return shown.join('; ') + (more > 0 ? `; and ${more} more` : '');
}

/** For a value that matched no member of a union of names and objects (`optimizer: 'adam2'`): the names. */
function unionChoices(i: z.core.$ZodIssue): string[] | undefined {
  if (i.code !== 'invalid_union') return undefined;
  for (const branch of i.errors) for (const e of branch) if (e.code === 'invalid_value' && e.path.length === 0) return e.values.map(String);
  return undefined;
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
