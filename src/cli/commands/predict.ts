/**
 * headstart predict <model.onnx> <files|dir...>: top-k labels and probabilities as a table,
 * CSV or JSON; --kaggle writes the Dogs vs Cats submission (id,label).
 */
import { writeFile } from 'node:fs/promises';
import { IOError } from '../../errors.js';
import { formatPredictionsTable, predictionsCsv, predictionsJson } from '../../infer/format-predictions.js';
import { kaggleCsv } from '../../infer/kaggle-csv.js';
import { predict } from '../../infer/predict.js';
import { defineCommand } from '../define-command.js';
import { choiceFlag, intFlag, UsageError } from '../usage.js';
import { streamPredictions } from './stream-predictions.js';
import { CLASSIFIER_FLAGS, classifierOptions, warnAboutThreads } from './classifier-flags.js';

const USAGE = `usage: headstart predict <model.onnx> <image|folder>... [options]

Classifies images with a trained model.onnx (its preprocessing and class names are read from the file).

options:
  --format F           table (default), csv, json or jsonl; csv and jsonl are written as the
                       images are classified (any number of images in bounded memory)
  --json               same as --format json
  --kaggle FILE        write the Dogs vs Cats submission (id,label = P(second class)) to FILE
  --batch-size N       images per run (default 16)
  --threads N          ONNX Runtime threads (default: all cores)
  --device D           cpu (default) or cuda
  --classes LIST       class names of a foreign ONNX model: a,b,c or a .json file holding an array
  --preprocess JSON    preprocessing of a foreign ONNX model: JSON or a .json file
                       ({"inputSize":224,"resizeSize":256,"mean":[..],"std":[..],"interpolation":"bilinear"})
  --verbose            print stack traces on errors
  -h, --help           this help`;

const OPTIONS = {
  'top-k': { type: 'string' },
  tta: { type: 'boolean' },
  format: { type: 'string' },
  json: { type: 'boolean' },
  kaggle: { type: 'string' },
  ...CLASSIFIER_FLAGS,
} as const;

export const predictCommand = defineCommand({
  name: 'predict',
  usage: USAGE,
  flags: OPTIONS,
  positionals: { min: 2, max: Infinity, describe: '<model.onnx> and the images (files or folders) to classify' },
  async run({ values, positionals, io }) {
    if (values.json && values.format !== undefined && values.format !== 'json') {
      throw new UsageError('E_INCOMPATIBLE_OPTIONS', `--json is short for --format json and contradicts --format ${values.format}`, { hint: 'give one of them' });
    }
    const format = values.json ? 'json' : (choiceFlag(values.format, 'format', ['table', 'csv', 'json', 'jsonl'] as const) ?? 'table');
    warnAboutThreads(values, io);
    const [modelPath, ...inputs] = positionals;
    if ((format === 'csv' || format === 'jsonl') && !values.kaggle) {
      return await streamPredictions(modelPath, inputs, format, io, {
        topK: intFlag(values['top-k'], 'top-k'),
        ...classifierOptions(values),
      });
    }
    const progress = io.tty && format === 'table' && !values.kaggle;
    const result = await predict(modelPath, inputs, {
      topK: intFlag(values['top-k'], 'top-k'),
      ...classifierOptions(values),
      onProgress: progress ? (done, total) => io.err(`\rclassified ${done}/${total}`) : undefined,
    });
    if (progress) io.err('\r\x1b[K');
    if (values.kaggle) {
      const csv = kaggleCsv(result.predictions, result.classes);
      try {
        await writeFile(values.kaggle, csv);
      } catch (err) {
        throw new IOError('E_WRITE_FAILED', `Cannot write \`${values.kaggle}\`: ${(err as Error).message}`, { hint: 'check that the folder exists and is writable', cause: err });
      }
      io.out(`wrote ${result.predictions.length} rows (id, P(${result.classes[1]})) to ${values.kaggle}\n`);
    } else if (format === 'csv') io.out(predictionsCsv(result));
    else if (format === 'json') io.out(predictionsJson(result));
    else io.out(formatPredictionsTable({ ...result, skipped: [] }));
    for (const s of result.skipped) io.err(`warning: skipped ${s.path}: ${s.reason}\n`);
    return 0;
  },
});
