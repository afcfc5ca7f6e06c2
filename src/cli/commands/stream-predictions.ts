/**
 * `headstart predict --format csv|jsonl`: rows are written to stdout as each batch is
 * classified (bounded memory for any number of images), with a progress bar on stderr when
 * it is a terminal; unreadable files are reported on stderr as they are found.
 */
import { predictionCsvRows, predictionJsonLines, predictionsCsvHeader } from '../../infer/format-predictions.js';
import type { PredictOptions } from '../../infer/predict.js';
import { predictStream } from '../../infer/predict.js';
import type { SkippedImage } from '../../infer/classifier.js';
import type { CommandIO } from '../command-io.js';
import { progressLine } from '../progress-line.js';
import { assertSomethingClassified } from './nothing-classified.js';

export async function streamPredictions(modelPath: string, inputs: string[], format: 'csv' | 'jsonl', io: CommandIO, options: PredictOptions): Promise<number> {
  const stream = await predictStream(modelPath, inputs, options);
  const bar = io.tty ? progressLine((s) => io.err(s), 'predict') : null;
  const rejection = stream.model.rejection !== undefined;
  if (format === 'csv') io.out(predictionsCsvHeader(rejection));
  let skipped = 0;
  const refused: SkippedImage[] = [];
  try {
    for await (const b of stream) {
      io.out(format === 'csv' ? predictionCsvRows(b.predictions, rejection) : predictionJsonLines(b.predictions));
      for (const s of b.skipped) {
        bar?.end();
        io.err(`warning: skipped ${s.path}: ${s.reason}\n`);
        skipped++;
        refused.push(s);
      }
      bar?.update(b.done, b.total);
    }
  } finally {
    bar?.end();
  }
  if (io.tty) io.err(`classified ${stream.total - skipped} of ${stream.total} images${skipped ? ` (${skipped} skipped)` : ''}\n`);
  assertSomethingClassified(stream.total - skipped, refused);
  return 0;
}
