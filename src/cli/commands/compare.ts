/**
 * headstart compare <data>: fine-tuning vs feature extraction with the same budget, both on
 * one figure (compare.svg/.png, compare.html) with the time each took.
 */
import { HeadstartError } from '../../errors.js';
import { compare, COMPARE_NAMES } from '../../train/compare.js';
import { COMPARE_FLAGS, TRAIN_FLAG_HELP, trainOptionsFromFlags } from '../train-flags.js';
import { processIO, type CommandIO } from '../command-io.js';
import { parseFlags, reportError, UsageError } from '../usage.js';
import { interruptOnSigint, terminalListeners } from './train.js';

export const COMPARE_USAGE = `usage: headstart compare <data> [options]

Runs fine-tuning and feature extraction with the same data, epochs, optimiser and seed,
then plots both on one set of loss and accuracy curves with the time each took:
<out>/compare.svg, compare.png, compare.html, compare.json, and each run's own folder
(<out>/finetune, <out>/features).

example:
  headstart compare assets/fashion-mnist-mini --model mobilenet_v2_offline --epochs 5

${TRAIN_FLAG_HELP.replace(/ {2}--mode M[\s\S]*?says why\)\n/, '')}`;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

export async function compareCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  const verbose = argv.includes('--verbose');
  const json = argv.includes('--json');
  let stop = () => {};
  let dispose = () => {};
  try {
    const { values, positionals } = parseFlags(argv, COMPARE_FLAGS, 'compare');
    if (values.help) {
      io.out(`${COMPARE_USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing the <data> folder' : `expected one <data> folder, found ${positionals.length}`, { hint: 'usage: headstart compare <data> [options]' });
    const options = trainOptionsFromFlags(values);
    const out = terminalListeners(json, io);
    stop = out.stop;
    const sig = interruptOnSigint(() => {
      if (!json) io.err('\nstopping after this batch (Ctrl-C again to quit at once)...\n');
    }, io);
    dispose = sig.dispose;
    const r = await compare(positionals[0], { ...options, listeners: out.listeners, signal: sig.signal });
    stop();
    if (r.interrupted) return 130;
    if (json) {
      io.out(`${JSON.stringify({ event: 'compare', finetune: { best_val_acc: r.finetune.bestValAcc, seconds: r.finetune.seconds, out: r.finetune.out }, features: { best_val_acc: r.features.bestValAcc, seconds: r.features.seconds, out: r.features.out }, speedup: r.speedup, figure: r.svgPath })}\n`);
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
  } catch (err) {
    stop();
    if (json && err instanceof HeadstartError) io.out(`${JSON.stringify({ event: 'error', code: err.code, message: err.message, hint: err.hint ?? null })}\n`);
    return reportError(err, verbose, io.err);
  } finally {
    dispose();
  }
}
