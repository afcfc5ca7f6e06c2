/**
 * headstart export --model <name> [--weights <file>] --out m.onnx [--num-classes K]: the
 * whole network as one standalone ONNX file (input: the normalised NCHW float32 image batch).
 */
import { exportModel } from '../../infer/export.js';
import { defineCommand } from '../define-command.js';
import { intFlag, UsageError } from '../usage.js';
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
} as const;

export const exportCommand = defineCommand({
  name: 'export',
  usage: USAGE,
  flags: OPTIONS,
  positionals: { min: 0, max: 0, describe: 'no arguments besides the flags' },
  async run({ values, io }) {
    if (!values.model) throw new UsageError('E_USAGE', '--model is required', { hint: 'e.g. --model resnet18 (see `headstart models`)' });
    if (!values.out) throw new UsageError('E_USAGE', '--out is required', { hint: 'the .onnx file to write, e.g. --out model.onnx' });
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
      io.out(
        `wrote ${result.path}: ${result.model}, ${result.numClasses} classes, ${result.loaded} tensors from ${result.weights}${result.reinitialised.length ? `, re-initialised ${result.reinitialised.join(', ')}` : ''}\n`,
      );
    }
    return 0;
  },
});
