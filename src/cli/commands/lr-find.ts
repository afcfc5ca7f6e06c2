/**
 * headstart lr-find <data>: fastai's learning-rate range test on the run `headstart train`
 * with the same flags would start; prints the suggestions, writes the plot and the curve.
 */
import { lrFind, LrFindOptionsSchema, type LrFindOptions } from '../../train/lr-find.js';
import { defineCommand } from '../define-command.js';
import { parseArgsOptions, flagsOf } from '../schema-flags.js';
import { trainFlagHelp, trainOptionsFromFlags } from '../train-flags.js';
import { withTerminal } from './train.js';

const SPECS = flagsOf(LrFindOptionsSchema);
const FLAGS = { ...parseArgsOptions(SPECS), json: { type: 'boolean' } } as const;

export const lrFindUsage = () => `usage: headstart lr-find <data> [options]

The learning-rate range test (fastai's lr_find): trains on ~100 mini-batches while the
learning rate grows exponentially from --start-lr, stops once the smoothed loss passes 4x
its minimum, and puts the weights back. It trains what \`headstart train\` with the same
flags would train first: the whole network when fine-tuning, the new classifier on cached
features with --mode features or --recipe fastai. Prints the suggestions (valley, steep,
minimum/10) and writes lr-find.svg, lr-find.png and lr-find.json to --out.
\`headstart train --lr auto\` runs it first and takes the valley.

example:
  headstart lr-find assets/fashion-mnist-mini --model mobilenet_v2_offline --recipe fastai

${trainFlagHelp(SPECS)}`;

export const lrFindCommand = defineCommand({
  name: 'lr-find',
  usage: lrFindUsage,
  flags: FLAGS,
  positionals: { min: 1, max: 1, describe: 'the <data> folder' },
  async run({ values, positionals, io }) {
    const options = trainOptionsFromFlags(values, SPECS) as LrFindOptions;
    const json = Boolean(values.json);
    const r = await withTerminal(json, io, (hooks) => lrFind(positionals[0], options, hooks));
    if (json) {
      io.out(
        `${JSON.stringify({ event: 'lr_find', suggestions: Object.fromEntries(r.suggestions.map((s) => [s.name, s.lr])), picked: { name: r.picked.name, lr: r.picked.lr }, batches: r.lrs.length, stopped_early: r.stoppedEarly, trained: r.trained, svg: r.svg, png: r.png, json: r.json })}\n`,
      );
      return 0;
    }
    io.out(
      [
        `swept ${r.lrs.length} batches from ${r.startLr.toExponential(0)} to ${r.lrs.at(-1)!.toExponential(2)}, training ${r.trained}${r.stoppedEarly ? ` (stopped: ${r.stoppedEarly})` : ''}`,
        ...r.suggestions.map((s) => `  ${(s.name === 'minimum' ? 'minimum/10' : s.name).padEnd(11)} ${s.lr.toExponential(2)}${s.name === r.picked.name ? '   <- what --lr auto takes' : ''}`),
        `plot ${r.svg} (and .png); curve ${r.json}`,
      ].join('\n') + '\n',
    );
    return 0;
  },
});
