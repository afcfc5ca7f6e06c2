/**
 * headstart evaluate <model.onnx> <dir>: accuracy with a 95% Wilson interval, per-class
 * precision/recall/F1 and the confusion matrix on a labelled folder; --json for programs.
 */
import { evaluate } from '../../infer/evaluate.js';
import { evaluationJson, formatEvaluation } from '../../infer/format-evaluation.js';
import { defineCommand } from '../define-command.js';
import { choiceFlag, intFlag } from '../usage.js';
import { CLASSIFIER_FLAGS, classifierOptions, warnAboutThreads } from './classifier-flags.js';

const USAGE = `usage: headstart evaluate <model.onnx> <dir> [options]

Evaluates a trained model.onnx on labelled images: <dir>/<class>/*.jpg, or a dataset root
(train/, val/, test/), whose val/ is used unless --split says otherwise. On the root of class
folders the model was trained on (split automatically), that run's val images are evaluated
(or its train images with --split train); --split is refused for any other class-folder dir.

options:
  --json               print one JSON document instead of the report
  --split S            train, val (default) or test: a dataset root's folder, or the training
                       run's own split of the class-folder root it was trained on
  --tta                average with the horizontally flipped view
  --mistakes N         most confidently wrong images to list (default 10)
  --unknown-dir DIR    images of none of the classes: AUROC and FPR at 95% TPR of the "unknown" score, and what the model's threshold accepts
  --batch-size N       images per run (default 16)
  --threads N          ONNX Runtime threads (default: all cores)
  --device D           cpu (default) or cuda
  --classes LIST       class names of a foreign ONNX model: a,b,c or a .json file
  --preprocess JSON    preprocessing of a foreign ONNX model: JSON or a .json file
  --verbose            print stack traces on errors
  -h, --help           this help`;

const OPTIONS = {
  json: { type: 'boolean' },
  split: { type: 'string' },
  tta: { type: 'boolean' },
  mistakes: { type: 'string' },
  'unknown-dir': { type: 'string' },
  ...CLASSIFIER_FLAGS,
} as const;

export const evaluateCommand = defineCommand({
  name: 'evaluate',
  usage: USAGE,
  flags: OPTIONS,
  positionals: { min: 2, max: 2, describe: '<model.onnx> <dir>' },
  async run({ values, positionals, io }) {
    const [modelPath, dir] = positionals;
    warnAboutThreads(values, io);
    const progress = io.tty && !values.json;
    const mistakes = intFlag(values.mistakes, 'mistakes', 0);
    const result = await evaluate(modelPath, dir, {
      split: choiceFlag(values.split, 'split', ['train', 'val', 'test'] as const),
      mistakes,
      ...(values['unknown-dir'] ? { unknownDir: values['unknown-dir'] } : {}),
      ...classifierOptions(values),
      onProgress: progress ? (done, total) => io.err(`\rclassified ${done}/${total}`) : undefined,
    });
    if (progress) io.err('\r\x1b[K');
    if (values.json) {
      io.out(evaluationJson(result));
    } else {
      io.out(formatEvaluation({ ...result, skipped: [] }));
    }
    for (const n of result.notes) io.err(`note: ${n}\n`);
    for (const w of result.warnings) io.err(`warning: ${w}\n`);
    for (const s of result.skipped) io.err(`warning: skipped ${s.path}: ${s.reason}\n`);
    return 0;
  },
});
