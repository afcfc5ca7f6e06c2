/** headstart's version, read once from package.json (recorded in config.json, printed by `headstart --version`). */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  // src/version.ts runs from src/ (tsx) or dist/src/ (built): package.json is one or two folders up.
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'headstart' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

export const HEADSTART_VERSION = readVersion();
