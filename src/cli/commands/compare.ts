/**
 * headstart compare <data>: fine-tuning vs feature extraction with the same budget, both on
 * one figure (compare.svg/.png, compare.html) with the time each took.
 */
import { compare, COMPARE_NAMES } from '../../train/compare.js';
import { COMPARE_FLAG_SPECS, COMPARE_FLAGS, trainFlagHelp, trainOptionsFromFlags } from '../train-flags.js';
import { defineCommand } from '../define-command.js';
import { withTerminal } from './train.js';

export const compareUsage = () => `usage: headstart compare <data> [options]

Runs fine-tuning and feature extraction with the same data, epochs, optimiser and seed,
then plots both on one set of loss and accuracy curves with the time each took:
<out>/compare.svg, compare.png, compare.html, compare.json, and each run's own folder
(<out>/finetune, <out>/features).

example:
  headstart compare assets/fashion-mnist-mini --model mobilenet_v2_offline --epochs 5

${trainFlagHelp(COMPARE_FLAG_SPECS)}`;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

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
    if (json) {
      io.out(
        `${JSON.stringify({ event: 'compare', finetune: { best_val_acc: r.finetune.bestValAcc, seconds: r.finetune.seconds, out: r.finetune.out }, features: { best_val_acc: r.features.bestValAcc, seconds: r.features.seconds, out: r.features.out }, speedup: r.speedup, figure: r.svgPath })}\n`,
      );
    } else {
      io.out(
        [
          `${COMPARE_NAMES.finetune.padEnd(20)} best val accuracy ${pct(r.finetune.bestValAcc)}  ${r.finetune.seconds.toFixed(1)} s`,
          `${COMPARE_NAMES.features.padEnd(20)} best val accuracy ${pct(r.features.bestValAcc)}  ${r.features.seconds.toFixed(1)} s`,
          `feature extraction took ${(1 / Math.max(r.speedup, 1e-9)).toFixed(2)}x the time of fine-tuning (${r.speedup.toFixed(1)}x faster)`,
          `figure ${r.svgPath}`,
          `report ${r.reportPath}`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  },
});
