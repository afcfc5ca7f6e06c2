/**
 * Validates the options of an optimiser or scheduler once, at the boundary: unknown keys are
 * rejected, defaults are merged here, and every problem becomes one ConfigError that names
 * the call and the offending field.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';

export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, where: string): z.output<S> {
  const r = schema.safeParse(options ?? {});
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
    throw new ConfigError(`${where}: invalid options: ${issues}`, {
      hint: 'see the option schemas in src/optim/',
    });
  }
  return r.data;
}
