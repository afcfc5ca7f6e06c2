import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where downloaded weights live: `$HEADSTART_HOME/weights`, else
 * `$XDG_CACHE_HOME/headstart/weights`, else `~/.cache/headstart/weights`.
 * `env` is a parameter so callers and tests can resolve it without touching process.env.
 */
export function weightsCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.HEADSTART_HOME) return resolve(env.HEADSTART_HOME, 'weights');
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'headstart', 'weights');
  return join(homedir(), '.cache', 'headstart', 'weights');
}

/** The final path of a cached weight file. */
export function cachedWeightsPath(fileName: string, cacheDir?: string): string {
  return join(cacheDir ?? weightsCacheDir(), fileName);
}
