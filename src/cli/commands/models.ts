/**
 * headstart models [name...]: the architectures headstart knows, with parameter counts,
 * feature dimension, input preprocessing and where their pretrained weights come from.
 * Exit code: 0 listed, 2 unknown model or bad usage.
 */
import type { ModelSummary } from '../../graphs/model-summary.js';
import { summarizeModel } from '../../graphs/model-summary.js';
import { getModel, listModels } from '../../models/registry.js';
import { defineCommand } from '../define-command.js';

const USAGE = `usage: headstart models [name...] [options]

Lists the architectures (all, or the ones named): parameter count, pooled feature
dimension, input size and preprocessing, and the pretrained weights each one can use
(downloaded from their official URL and sha256-checked, or built in).

options:
  --json               print the list as one JSON document
  --verbose            print stack traces on errors
  -h, --help           this help

exit code: 0 listed, 2 unknown model or bad usage`;

const OPTIONS = {
  json: { type: 'boolean' },
} as const;

const millions = (n: number) => `${(n / 1e6).toFixed(2)} M`;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatModels(summaries: readonly ModelSummary[]): string {
  const rows = [['model', 'params', 'backbone', 'features', 'input', 'default weights']];
  for (const s of summaries) {
    const w = s.weights.find((x) => x.default);
    rows.push([
      s.name,
      s.params ? millions(s.params.total) : '?',
      s.params ? millions(s.params.features) : '?',
      `${s.featureDim}`,
      `${s.input.size} (resize ${s.input.resize}, ${s.input.interpolation})`,
      w ? `${w.id} (${w.kind === 'builtin' ? 'built in' : 'download'})` : 'none',
    ]);
  }
  const lines = [table(rows), '', 'params: with a 1000-class head; a new head adds (features + 1) x classes.', '', 'weights:'];
  for (const s of summaries) {
    if (s.paramsError) lines.push(`  ${s.name}: parameters not counted (${s.paramsError})`);
    for (const w of s.weights) {
      const where = w.kind === 'builtin' ? `built in: ${w.description ?? ''}` : `${w.url} (sha256 ${w.sha256}${w.sha256 && w.sha256.length < 64 ? '…' : ''}, ${w.format}, ${w.numClasses} classes)`;
      lines.push(`  ${`${s.name}/${w.id}`.padEnd(36)} ${where}; licence ${w.license}`);
    }
    if (s.weights.length === 0) lines.push(`  ${s.name.padEnd(36)} no pretrained weights known (use --weights <file>)`);
  }
  return lines.join('\n');
}

export const modelsCommand = defineCommand({
  name: 'models',
  usage: USAGE,
  flags: OPTIONS,
  positionals: { min: 0, max: Infinity, describe: 'model names' },
  async run({ values, positionals, io }) {
    const specs = positionals.length > 0 ? positionals.map((n) => getModel(n)) : listModels();
    const summaries = specs.map(summarizeModel);
    io.out(values.json ? `${JSON.stringify(summaries, null, 2)}\n` : `${formatModels(summaries)}\n`);
    return 0;
  },
});
