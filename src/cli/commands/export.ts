/**
 * headstart export --model <name> [--weights <file>] --out m.onnx [--num-classes K]: the
 * whole network as one standalone ONNX file (input: the normalised NCHW float32 image batch).
 */
import { exportModel } from '../../infer/export.js';
import { processIO, type CommandIO } from '../command-io.js';
import { choiceFlag, intFlag, parseFlags, reportError, UsageError } from '../usage.js';
import { parseClassesFlag } from './classifier-flags.js';

const USAGE = `usage: headstart export --model <name> --out <file.onnx> [options]

Writes a zoo model with its weights as one standalone ONNX classifier. Its first input is the
normalised NCHW float32 image batch, its output the logits; the preprocessing and class names
are stored in the file's metadata.

options:
  --model NAME         architecture (see \`headstart models\`), or path/to/classifier.onnx
  --weights FILE       .pth/.pt or .safetensors state dict (default: the model's pretrained weights)
  --out FILE           where to write the .onnx file
  --num-classes K      class count (default: the checkpoint's own classifier; otherwise the
                       classifier is re-initialised like torch.nn.Linear)
  --classes LIST       class names stored in the metadata: a,b,c or a .json file
  --seed N             seed of a re-initialised classifier (default 0)
  --json               print the result as JSON
  --verbose            print stack traces on errors
  -h, --help           this help`;

const OPTIONS = {
  model: { type: 'string' },
  weights: { type: 'string' },
  out: { type: 'string' },
  'num-classes': { type: 'string' },
  classes: { type: 'string' },
  seed: { type: 'string' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function exportCommand(argv: string[], io: CommandIO = processIO): Promise<number> {
  const verbose = argv.includes('--verbose');
  try {
    const { values, positionals } = parseFlags(argv, OPTIONS, 'export');
    if (values.help) {
      io.out(`${USAGE}\n`);
      return 0;
    }
    if (positionals.length > 0) throw new UsageError(`unexpected argument(s): ${positionals.join(' ')}`);
    if (!values.model) throw new UsageError('--model is required');
    if (!values.out) throw new UsageError('--out is required');
    const seed = intFlag(values.seed, 'seed', 0);
    const result = await exportModel(values.model, values.out, {
      weights: values.weights,
      numClasses: intFlag(values['num-classes'], 'num-classes'),
      classes: parseClassesFlag(values.classes),
      seed,
      onNote: values.json ? undefined : (line) => io.err(`note: ${line}\n`),
    });
    if (values.json) {
      const { metadata, ...rest } = result;
      io.out(`${JSON.stringify({ ...rest, preprocess: metadata.preprocess }, null, 2)}\n`);
    } else {
      io.out(`wrote ${result.path}: ${result.model}, ${result.numClasses} classes, ${result.loaded} tensors from ${result.weights}${result.reinitialised.length ? `, re-initialised ${result.reinitialised.join(', ')}` : ''}\n`);
    }
    return 0;
  } catch (err) {
    return reportError(err, verbose, io.err);
  }
}
