/**
 * Bundles the browser side of `headstart serve` (src/serve/web-core.ts) into
 * dist/web/core.js with esbuild; runs in `npm run prepare` (so after `npm ci`) and in the
 * web tests. The rest of the page (src/serve/web/) needs no build: Preact + htm modules.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export async function buildWeb(): Promise<string> {
  const outfile = `${ROOT}dist/web/core.js`;
  await build({
    entryPoints: [`${ROOT}src/serve/web-core.ts`],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildWeb();
  process.stdout.write(`built ${out}\n`);
}
