/**
 * headstart doctor <root>: decodes every file of a dataset folder and reports counts per
 * split and class, imbalance, unreadable / truncated / empty files, misnamed formats, small
 * and very large images, duplicates and train/val/test leakage, with a verdict. Read-only.
 * Exit code: 0 usable (with or without warnings), 1 not usable or a failure, 2 bad usage.
 */
import cliProgress from 'cli-progress';
import { doctor } from '../../data/doctor.js';
import { formatDoctorReport } from '../../data/format-doctor-report.js';
import { defineCommand } from '../define-command.js';
import { UsageError } from '../usage.js';

const USAGE = `usage: headstart doctor <dataset> [options]

Checks a dataset folder (root/train/<class>/*, root/val/<class>/*, root/test/, or
root/<class>/*) without changing it: decodes every image and lists unreadable, truncated
and empty files, content that does not match its extension, images smaller than the crop
or very large, duplicates within a split and across splits (leakage), and class imbalance.

options:
  --json               print the report as one JSON document
  --input-size N       crop side the model uses (default 224): smaller images are listed
  --large-mp N         list images above N megapixels (default 16.8)
  --imbalance R        warn when the largest class is R times the smallest (default 3)
  --concurrency N      images decoded at once (default 4)
  --all                list every finding (the text report shows 20 per kind)
  --verbose            print stack traces on errors
  -h, --help           this help

exit code: 0 usable (warnings allowed), 1 not usable or failed, 2 bad usage`;

const OPTIONS = {
  json: { type: 'boolean' },
  'input-size': { type: 'string' },
  'large-mp': { type: 'string' },
  imbalance: { type: 'string' },
  concurrency: { type: 'string' },
  all: { type: 'boolean' },
} as const;

function number(value: string | undefined, flag: string, check: (n: number) => boolean, what: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError('E_BAD_OPTION', `--${flag} must be ${what}, found \`${value}\``);
  return n;
}

export const doctorCommand = defineCommand({
  name: 'doctor',
  usage: USAGE,
  flags: OPTIONS,
  positionals: { min: 1, max: 1, describe: 'one <dataset> folder' },
  async run({ values, positionals, io }) {
    let bar: cliProgress.SingleBar | undefined;
    try {
      const inputSize = number(values['input-size'], 'input-size', (n) => Number.isInteger(n) && n > 0, 'a positive whole number');
      const largeMp = number(values['large-mp'], 'large-mp', (n) => n > 0, 'a positive number of megapixels');
      const imbalanceRatio = number(values.imbalance, 'imbalance', (n) => n >= 1, 'a ratio >= 1');
      const concurrency = number(values.concurrency, 'concurrency', (n) => Number.isInteger(n) && n > 0, 'a positive whole number');

      if (io.tty) {
        bar = new cliProgress.SingleBar(
          { stream: process.stderr, format: ' doctor [{bar}] {value}/{total} files | ETA {eta_formatted}', barsize: 30, hideCursor: true, clearOnComplete: true, fps: 8 },
          cliProgress.Presets.shades_classic,
        );
      }
      let started = false;
      const report = await doctor(positionals[0], {
        inputSize,
        largePixels: largeMp === undefined ? undefined : Math.round(largeMp * 1e6),
        imbalanceRatio,
        concurrency,
        onProgress: bar
          ? (done, total) => {
              if (!started) {
                bar!.start(total, 0);
                started = true;
              }
              bar!.update(done);
            }
          : undefined,
      });
      bar?.stop();
      bar = undefined;
      io.out(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctorReport(report, { maxPerKind: values.all ? Infinity : 20 })}\n`);
      return report.verdict === 'errors' ? 1 : 0;
    } finally {
      bar?.stop();
    }
  },
});
