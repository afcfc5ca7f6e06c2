/**
 * headstart train <data>: the CLI shell over `train()` — flags in, listeners for the
 * terminal (progress bars on a TTY, plain lines otherwise, JSON lines with --json), Ctrl-C
 * turned into a clean stop (the last finished epoch stays saved; a second Ctrl-C quits now).
 */
import { HeadstartError } from '../../errors.js';
import type { TrainListener } from '../../train/events.js';
import { jsonLines } from '../../train/listeners/json-lines.js';
import { plainLog } from '../../train/listeners/plain-log.js';
import { train, type TrainResult } from '../../train/train.js';
import { progressBars } from '../progress.js';
import { normaliseResume, RESUME_HELP, TRAIN_FLAG_HELP, TRAIN_FLAGS, trainOptionsFromFlags } from '../train-flags.js';
import { processIO, type CommandIO } from '../command-io.js';
import { parseFlags, reportError, UsageError } from '../usage.js';

export const TRAIN_USAGE = `usage: headstart train <data> [options]

Fine-tunes (or trains the new classifier of) a pretrained network on an image folder:
<data>/train/<class>/* and <data>/val/<class>/* (or class folders only: split by --val-split).
Writes model.onnx, history.json/.csv, curves.svg/.png, confusion.svg, report.html,
config.json, classes.json and checkpoint.bin to --out.

example (offline, under a minute on 2 cores):
  headstart train assets/fashion-mnist-mini --model mobilenet_v2_offline --mode features

${TRAIN_FLAG_HELP.replace('run:\n', `run:\n${RESUME_HELP}\n`)}`;

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

/** Output listeners for the terminal; `stop` tears the progress bars down. */
export function terminalListeners(json: boolean, io: CommandIO): { listeners: TrainListener[]; stop: () => void } {
  if (json) return { listeners: [jsonLines((line) => io.out(`${line}\n`))], stop: () => {} };
  if (io.tty) {
    const bars = progressBars(process.stderr);
    return { listeners: [bars], stop: () => bars.stop() };
  }
  return { listeners: [plainLog((line) => io.out(`${line}\n`))], stop: () => {} };
}

/** SIGINT -> abort the run at the next batch; a second SIGINT exits at once. */
export function interruptOnSigint(onFirst: () => void, io: CommandIO): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) {
      io.err('\nstopped without saving the current epoch\n');
      process.exit(130);
    }
    onFirst();
    controller.abort();
  };
  process.on('SIGINT', handler);
  return { signal: controller.signal, dispose: () => void process.off('SIGINT', handler) };
}

export function summary(r: TrainResult): string {
  const lines = [
    `val accuracy ${pct(r.bestValAcc)} (best of ${r.history.epochs.length} epochs: epoch ${r.bestEpoch})${r.metrics ? `, 95% interval ${pct(r.metrics.accuracy.lower)}-${pct(r.metrics.accuracy.upper)}` : ''}`,
    `mode ${r.mode}, ${r.seconds.toFixed(1)} s${r.stoppedEarly ? ` (stopped early: ${r.stoppedEarly})` : ''}`,
  ];
  if (r.modelPath) lines.push(`model  ${r.modelPath}`, `report ${r.out}/report.html`);
  return lines.join('\n');
}

export async function trainCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  const verbose = argv.includes('--verbose');
  const json = argv.includes('--json');
  let stop = () => {};
  let dispose = () => {};
  try {
    const { values, positionals } = parseFlags(normaliseResume(argv), TRAIN_FLAGS, 'train');
    if (values.help) {
      io.out(`${TRAIN_USAGE}\n`);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(positionals.length === 0 ? 'missing the <data> folder' : `expected one <data> folder, found ${positionals.length}: ${positionals.join(' ')}`, {
        hint: 'usage: headstart train <data> [options]',
      });
    }
    const options = trainOptionsFromFlags(values);
    const out = terminalListeners(json, io);
    stop = out.stop;
    const sig = interruptOnSigint(() => {
      if (!json) io.err('\nstopping after this batch (Ctrl-C again to quit at once)...\n');
    }, io);
    dispose = sig.dispose;
    const result = await train(positionals[0], { ...options, listeners: out.listeners, signal: sig.signal });
    stop();
    if (result.interrupted) return 130;
    if (!json) io.out(`${summary(result)}\n`);
    return 0;
  } catch (err) {
    stop();
    if (json && err instanceof HeadstartError) io.out(`${JSON.stringify({ event: 'error', code: err.code, message: err.message, hint: err.hint ?? null })}\n`);
    return reportError(err, verbose, io.err);
  } finally {
    dispose();
  }
}
