/**
 * headstart train <data>: the CLI shell over `train()` — flags in, listeners for the
 * terminal (progress bars on a TTY, plain lines otherwise, JSON lines with --json), Ctrl-C
 * turned into a clean stop (the last finished epoch stays saved; a second Ctrl-C quits now).
 */
import type { TrainListener } from '../../train/events.js';
import { jsonLines } from '../../train/listeners/json-lines.js';
import { plainLog } from '../../train/listeners/plain-log.js';
import { train, type TrainResult } from '../../train/train.js';
import { progressBars } from '../progress.js';
import { normaliseResume, trainFlagHelp, TRAIN_FLAGS, trainOptionsFromFlags } from '../train-flags.js';
import { defineCommand } from '../define-command.js';
import type { CommandIO } from '../command-io.js';

export const trainUsage = () => `usage: headstart train <data> [options]

Fine-tunes (or trains the new classifier of) a pretrained network on an image folder:
<data>/train/<class>/* and <data>/val/<class>/* (or class folders only: split by --val-split).
Writes model.onnx, history.json/.csv, curves.svg/.png, confusion.svg, report.html,
config.json, classes.json and checkpoint.bin to --out.

example (offline, under a minute on 2 cores):
  headstart train assets/fashion-mnist-mini --model mobilenet_v2_offline --mode features

${trainFlagHelp()}`;

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

/** Runs `work` with terminal listeners and Ctrl-C turned into a clean stop; returns what it returns. */
export async function withTerminal<T>(json: boolean, io: CommandIO, work: (hooks: { listeners: TrainListener[]; signal: AbortSignal }) => Promise<T>): Promise<T> {
  const out = terminalListeners(json, io);
  const sig = interruptOnSigint(() => {
    if (!json) io.err('\nstopping after this batch (Ctrl-C again to quit at once)...\n');
  }, io);
  try {
    return await work({ listeners: out.listeners, signal: sig.signal });
  } finally {
    out.stop();
    sig.dispose();
  }
}

export const trainCommand = defineCommand({
  name: 'train',
  usage: trainUsage,
  flags: TRAIN_FLAGS,
  positionals: { min: 1, max: 1, describe: 'the <data> folder' },
  normalize: normaliseResume,
  async run({ values, positionals, io }) {
    const options = trainOptionsFromFlags(values);
    const json = Boolean(values.json);
    const result = await withTerminal(json, io, (hooks) => train(positionals[0], options, hooks));
    if (result.interrupted) return 130;
    if (!json) io.out(`${summary(result)}\n`);
    return 0;
  },
});
