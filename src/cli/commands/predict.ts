/**
 * headstart predict <model.onnx> <files|dir...>: top-k labels and probabilities as a table,
 * CSV or JSON; --kaggle writes the Dogs vs Cats submission (id,label).
 */
import { stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { IOError } from '../../errors.js';
import type { SkippedImage } from '../../infer/classifier.js';
import { formatPredictionsTable, predictionsCsv, predictionsJson } from '../../infer/format-predictions.js';
import { assertKaggleClasses, kaggleCsv } from '../../infer/kaggle-csv.js';
import { predict, predictStream, type Prediction, type PredictOptions } from '../../infer/predict.js';
import type { CommandIO } from '../command-io.js';
import { assertSomethingClassified } from './nothing-classified.js';
import { defineCommand } from '../define-command.js';
import { choiceFlag, intFlag, UsageError } from '../usage.js';
import { streamPredictions } from './stream-predictions.js';
import { CLASSIFIER_FLAGS, classifierOptions, warnAboutThreads } from './classifier-flags.js';

const USAGE = `usage: headstart predict <model.onnx> <image|folder>... [options]

Classifies images with a trained model.onnx (its preprocessing and class names are read from the file).

options:
  --format F           table (default), csv, json or jsonl; csv and jsonl are written as the
                       images are classified (any number of images in bounded memory); with a
                       model that has an "unknown" threshold, csv adds the columns unknown,score
                       and json/jsonl the fields unknown, score
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

/** The folder a file is to be written in: it must exist (checked before any image is classified). */
async function assertWritableTarget(file: string): Promise<void> {
  const folder = dirname(resolve(file));
  const st = await stat(folder).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new IOError('E_NOT_FOUND', `Cannot write \`${file}\`: the folder \`${folder}\` does not exist`, { hint: 'create the folder first, or pass another --kaggle path' });
  }
  if ((await stat(file).catch(() => undefined))?.isDirectory()) {
    throw new IOError('E_WRITE_FAILED', `Cannot write \`${file}\`: it is a folder`, { hint: 'pass a file name for --kaggle, e.g. submission.csv' });
  }
}

/** --kaggle: what can be checked (the output folder, 2 classes) is checked before any image is classified. */
async function kaggleSubmission(modelPath: string, inputs: string[], file: string, io: CommandIO, options: PredictOptions): Promise<number> {
  await assertWritableTarget(file);
  const stream = await predictStream(modelPath, inputs, options);
  try {
    assertKaggleClasses(stream.classes);
  } catch (err) {
    await stream.close();
    throw err;
  }
  const predictions: Prediction[] = [];
  const skipped: SkippedImage[] = [];
  for await (const b of stream) {
    predictions.push(...b.predictions);
    for (const s of b.skipped) io.err(`warning: skipped ${s.path}: ${s.reason}\n`);
    skipped.push(...b.skipped);
  }
  assertSomethingClassified(predictions.length, skipped);
  const csv = kaggleCsv(predictions, stream.classes);
  try {
    await writeFile(file, csv);
  } catch (err) {
    throw new IOError('E_WRITE_FAILED', `Cannot write \`${file}\`: ${(err as Error).message}`, { hint: 'check that the folder exists and is writable', cause: err });
  }
  io.out(`wrote ${predictions.length} rows (id, P(${stream.classes[1]})) to ${file}\n`);
  return 0;
}

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
    if (values.kaggle) return await kaggleSubmission(modelPath, inputs, values.kaggle, io, { topK: intFlag(values['top-k'], 'top-k'), ...classifierOptions(values) });
    const progress = io.tty && format === 'table';
    const result = await predict(modelPath, inputs, {
      topK: intFlag(values['top-k'], 'top-k'),
      ...classifierOptions(values),
      onProgress: progress ? (done, total) => io.err(`\rclassified ${done}/${total}`) : undefined,
    });
    if (progress) io.err('\r\x1b[K');
    for (const s of result.skipped) io.err(`warning: skipped ${s.path}: ${s.reason}\n`);
    assertSomethingClassified(result.predictions.length, result.skipped);
    if (format === 'csv') io.out(predictionsCsv(result));
    else if (format === 'json') io.out(predictionsJson(result));
    else io.out(formatPredictionsTable({ ...result, skipped: [] }));
    return 0;
  },
});
