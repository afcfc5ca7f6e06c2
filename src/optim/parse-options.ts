/**
 * Validates the options of an optimiser or scheduler once, at the boundary: unknown keys are
 * rejected, defaults are merged here, and every problem becomes one ConfigError that names
 * the call and the offending field.
 */
import type { z } from 'zod';
import { parseOrThrow } from '../zod-issues.js';

export function parseOptions<S extends z.ZodType>(schema: S, options: unknown, where: string): z.output<S> {
  return parseOrThrow(schema, options ?? {}, `${where}: invalid options`, 'see the option schemas in src/optim/');
}
