/**
 * headstart compare <data>: fine-tuning vs feature extraction with the same budget, both on
 * one figure (compare.svg/.png, compare.html) with the time each took.
 */
import { compare, type CompareModeSummary } from '../../train/compare.js';
import type { MeanInterval } from '../../metrics/paired-test.js';
import { COMPARE_FLAG_SPECS, COMPARE_FLAGS, trainFlagHelp, trainOptionsFromFlags } from '../train-flags.js';
import { defineCommand } from '../define-command.js';
import { withTerminal } from './train.js';

export const compareUsage = () => `usage: headstart compare <data> [options]

Runs fine-tuning and feature extraction with the same data, epochs and seeds, each with
its recipe's optimiser settings (--recipe torchvision: the same for both), --seeds N times
each, then reports each mode's mean val accuracy with its 95%
interval, McNemar's exact test on the same val images, the time each took (the first
feature-extraction run computes its features cold) and a verdict in plain words;
--fractions adds a learning curve. Outputs: <out>/compare.svg, compare.png, compare.html,
compare.json, and each run's own folder and report.

example:
  headstart compare assets/fashion-mnist-mini --model mobilenet_v2_offline --epochs 5 --seeds 3

${trainFlagHelp(COMPARE_FLAG_SPECS)}`;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const interval = (m: MeanInterval) => (m.n > 1 ? `${pct(m.mean)} (95% interval ${pct(m.lower)} to ${pct(m.upper)}, ${m.n} seeds)` : `${pct(m.mean)} (one seed)`);
const secs = (v: number) => `${v.toFixed(1)} s`;

function modeLines(m: CompareModeSummary): string[] {
  const cold = m.extraction ? (m.extraction.hit ? ' (features from the cache given by --cache-dir: extraction not included)' : ` (cold, ${secs(m.extraction.seconds)} of it extracting features)`) : '';
  const later = m.runs.length > 1 ? `; mean ${secs(m.seconds.mean)} per run over ${m.runs.length} seeds` : '';
  return [`${m.name.padEnd(20)} best val accuracy ${interval(m.accuracy)}`, `${''.padEnd(20)} time: first run ${secs(m.coldSeconds)}${cold}${later}`];
}

export const compareCommand = defineCommand({
  name: 'compare',
  usage: compareUsage,
  flags: COMPARE_FLAGS,
  positionals: { min: 1, max: 1, describe: 'the <data> folder' },
  async run({ values, positionals, io }) {
    const options = trainOptionsFromFlags(values, COMPARE_FLAG_SPECS);
    const json = Boolean(values.json);
    const r = await withTerminal(json, io, (hooks) => compare(positionals[0], options, hooks));
    if (r.interrupted) return 130;
    const p = r.paired;
    if (json) {
      const mode = (m: CompareModeSummary) => ({
        best_val_acc: m.accuracy,
        seconds: m.seconds,
        cold_seconds: m.coldSeconds,
        ...(m.extraction ? { extraction: m.extraction } : {}),
        runs: m.runs.map((x) => ({ best_val_acc: x.bestValAcc, seconds: x.seconds, out: x.out })),
      });
      io.out(
        `${JSON.stringify({
          event: 'compare',
          seeds: r.seeds,
          finetune: mode(r.modes.finetune),
          features: mode(r.modes.features),
          paired: { test: 'McNemar exact', only_finetune: p.onlyFirst, only_features: p.onlySecond, images: p.images, p: p.p, rule: p.rule },
          verdict: r.verdict,
          ...(r.curve ? { learning_curve: r.curve } : {}),
          speedup: r.speedup,
          figure: r.svgPath,
          report: r.reportPath,
        })}\n`,
      );
    } else {
      const lines = [
        ...modeLines(r.modes.finetune),
        ...modeLines(r.modes.features),
        `paired test (McNemar exact, ${p.images} val images; ${p.rule}): right only with fine-tuning ${p.onlyFirst}, only with feature extraction ${p.onlySecond}, p = ${p.p < 0.001 ? '< 0.001' : p.p.toFixed(3)}`,
      ];
      if (r.curve) {
        lines.push('learning curve (best val accuracy):');
        for (const q of r.curve.points)
          lines.push(`  ${String(q.fraction).padEnd(5)} ${String(q.trainImages).padStart(6)} images  fine-tuning ${interval(q.finetune)}  feature extraction ${interval(q.features)}`);
        lines.push(r.curve.summary);
      }
      lines.push(`verdict: ${r.verdict}`, `figure ${r.svgPath}`, `report ${r.reportPath}`);
      io.out(lines.join('\n') + '\n');
    }
    return 0;
  },
});
