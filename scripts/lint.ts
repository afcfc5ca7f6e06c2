/**
 * `npm run lint`: runs every check even when an earlier one fails, then prints one line per check
 * and exits non-zero if any failed. Each check is its own npm script (`npm run lint:eslint`, ...),
 * so one can be rerun alone.
 */
import { spawnSync } from 'node:child_process';

const CHECKS = [
  { script: 'lint:deps', what: 'dependency-cruiser: layer rule, no import cycles' },
  { script: 'lint:unused', what: 'knip: unused files, exports and dependencies' },
  { script: 'lint:types', what: 'tsc on src/, test/, bench/ and scripts/ (tsconfig.lint.json)' },
  { script: 'lint:format', what: 'prettier --check' },
  { script: 'lint:eslint', what: 'eslint (typescript-eslint, type-aware)' },
] as const;

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const results = CHECKS.map(({ script, what }) => {
  process.stdout.write(`\n── npm run ${script} (${what})\n`);
  const start = performance.now();
  const run = spawnSync(npm, ['run', '--silent', script], { stdio: 'inherit' });
  return { script, ok: run.status === 0, seconds: (performance.now() - start) / 1000 };
});

process.stdout.write('\n');
for (const r of results) process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'}  ${r.script.padEnd(12)} ${r.seconds.toFixed(1)} s\n`);
const failed = results.filter((r) => !r.ok).length;
process.stdout.write(failed === 0 ? 'lint: all checks passed\n' : `lint: ${failed} of ${results.length} checks failed\n`);
process.exitCode = failed === 0 ? 0 : 1;
