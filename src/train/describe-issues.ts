/**
 * A zod error about run options as one sentence: each issue names the option, what was wrong
 * and, for a choice, the valid values; unknown options list the valid ones.
 */
import { z } from 'zod';

export function describeIssues(error: z.ZodError, schema?: z.ZodObject): string {
  return error.issues
    .map((i) => {
      const key = i.path.join('.') || '(options)';
      if (i.code === 'unrecognized_keys') {
        const where = i.path.length ? ` in \`${key}\`` : '';
        return `unknown option(s) ${i.keys.map((k) => `\`${k}\``).join(', ')}${where}${schema && !i.path.length ? ` (valid: ${Object.keys(schema.shape).join(', ')})` : ''}`;
      }
      const choices = i.code === 'invalid_value' ? i.values.map(String) : unionChoices(i);
      return `${key}: ${i.message}${choices ? ` (valid: ${choices.join(', ')})` : ''}`;
    })
    .join('; ');
}

/** For a value that matched no member of a union of enums and objects (`optimizer: 'adam2'`): the enum's values. */
function unionChoices(i: z.core.$ZodIssue): string[] | undefined {
  if (i.code !== 'invalid_union') return undefined;
  for (const branch of i.errors) {
    for (const e of branch) if (e.code === 'invalid_value' && e.path.length === 0) return e.values.map(String);
  }
  return undefined;
}
