#!/usr/bin/env node
/**
 * The `headstart` command: dispatches `headstart <command> ...` to
 * src/cli/commands/<command>.ts, which exports `<command>Command(argv): Promise<exitCode>`.
 * Commands are imported only when run, so `headstart --help` starts fast.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processIO, type CommandIO } from './command-io.js';
import { HEADSTART_VERSION } from '../version.js';
import { closest } from '../closest-name.js';
import { reportError } from './usage.js';
import { HeadstartError } from '../errors.js';

/** Command name -> one-line summary (the module is ./commands/<name>.js). */
export const COMMANDS: Readonly<Record<string, string>> = {
  train: 'fine-tune a pretrained network (or train a new classifier on its features) on an image folder',
  compare: 'fine-tuning vs feature extraction with the same budget, on one set of curves',
  predict: 'classify images with a trained model.onnx (table, CSV, JSON, Kaggle submission)',
  evaluate: 'accuracy with a 95% interval, per-class metrics and confusion matrix on a labelled folder',
  export: 'write a zoo network with its weights as one standalone ONNX file',
  doctor: 'check a dataset folder: counts, unreadable files, duplicates, leakage',
  models: 'list the architectures, their parameter counts and where their weights come from',
  serve: 'a local web app: runs, live training, try the model in your browser',
  verify: "check that this runtime (or --browser: onnxruntime-web in Chromium) reproduces a model's stored self-check",
  'lr-find': "fastai's learning-rate range test: a plot of loss against lr, and suggested rates",
};

export const MAIN_USAGE = `usage: headstart <command> [options]

Transfer learning for images: fine-tune a pretrained ImageNet network on your own
labelled folders, trained by ONNX Runtime, exported as one portable ONNX file.

commands:
${Object.entries(COMMANDS)
  .map(([name, summary]) => `  ${name.padEnd(9)} ${summary}`)
  .join('\n')}

Run \`headstart <command> --help\` for a command's options.

quick start (offline, under a minute on 2 cores):
  headstart train assets/fashion-mnist-mini --model mobilenet_v2_offline --mode features
`;

/** Commands take (argv); train and compare also take a CommandIO (tests capture their output). */
type CommandFn = (argv: string[], io?: CommandIO) => Promise<number>;

async function loadCommand(name: string): Promise<CommandFn> {
  // A computed specifier: each command module is loaded only when it runs.
  const mod = (await import(`./commands/${name}.js`)) as Record<string, unknown>;
  const fn = mod[`${name.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())}Command`];
  if (typeof fn !== 'function') throw new HeadstartError('E_INTERNAL', `src/cli/commands/${name}.ts does not export ${name}Command (a bug in this build)`);
  return fn as CommandFn;
}

export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    if (first === 'help' && rest[0] && rest[0] in COMMANDS) return (await loadCommand(rest[0]))(['--help'], io);
    io.out(MAIN_USAGE);
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    io.out(`headstart ${HEADSTART_VERSION}\n`);
    return 0;
  }
  if (!(first in COMMANDS)) {
    const guess = closest(first, Object.keys(COMMANDS));
    io.err(`error: unknown command \`${first}\`${guess ? ` (did you mean \`${guess}\`?)` : ''} (commands: ${Object.keys(COMMANDS).join(', ')})\n`);
    return 2;
  }
  let command: CommandFn;
  try {
    command = await loadCommand(first);
  } catch (err) {
    io.err(`error: the \`${first}\` command is not available in this build: ${(err as Error).message}\n`);
    return 1;
  }
  return command(rest, io);
}

/** True when this module is the program (node main.js, the bin link, tsx main.ts), not an import. */
function isEntryPoint(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      // One line (the stack only with --verbose), as every command reports its errors.
      process.exitCode = reportError(err, process.argv.includes('--verbose'));
    },
  );
}
