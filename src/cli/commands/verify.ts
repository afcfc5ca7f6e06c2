/**
 * headstart verify <model.onnx>: runs the model's stored self-check (a few val images with
 * their expected outputs) in onnxruntime-node, or with --browser in headless Chromium with
 * onnxruntime-web, and fails naming the first difference beyond 1e-4.
 * Exit code: 0 reproduced, 1 a difference (or a failure), 2 bad usage.
 */
import { verifyClassifier, type VerifyReport } from '../../infer/verification.js';
import { defineCommand } from '../define-command.js';
import { intFlag, UsageError } from '../usage.js';

const USAGE = `usage: headstart verify <model.onnx> [options]

Checks that this runtime reproduces the trained model: decodes the validation images stored
in model.onnx (PNG at the model's input size), normalises them with the stored mean/std,
runs the model and compares the top-k probabilities (and the "unknown" score) with the
values recorded at training, to 1e-4. Fails naming the first difference.

options:
  --browser            run in headless Chromium with onnxruntime-web (Debian's chromium, or $HEADSTART_CHROMIUM)
  --mean R,G,B         normalise with this mean instead of the stored one (check another runtime's preprocessing)
  --std R,G,B          normalise with this std instead of the stored one
  --threads N          ONNX Runtime threads (default: all cores)
  --json               print the result as JSON
  --verbose            print stack traces on errors
  -h, --help           this help

exit code: 0 reproduced, 1 a difference or a failure, 2 bad usage`;

const OPTIONS = {
  browser: { type: 'boolean' },
  mean: { type: 'string' },
  std: { type: 'string' },
  threads: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function rgbFlag(value: string | undefined, flag: string, positive: boolean): [number, number, number] | undefined {
  if (value === undefined) return undefined;
  const v = value.split(',').map((x) => Number(x.trim()));
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x) || (positive && x <= 0))) {
    throw new UsageError('E_BAD_OPTION', `--${flag} must be three ${positive ? 'positive ' : ''}numbers R,G,B, found \`${value}\``, { hint: `e.g. --${flag} 0.485,0.456,0.406` });
  }
  return [v[0], v[1], v[2]];
}

export const verifyCommand = defineCommand({
  name: 'verify',
  usage: USAGE,
  flags: OPTIONS,
  positionals: { min: 1, max: 1, describe: 'one <model.onnx>' },
  async run({ values, positionals, io }) {
    const [modelPath] = positionals;
    const mean = rgbFlag(values.mean, 'mean', false);
    const std = rgbFlag(values.std, 'std', true);
    const threads = intFlag(values.threads, 'threads');
    let report: VerifyReport;
    if (values.browser) {
      const { verifyClassifierInBrowser } = await import('../../infer/verify-browser.js');
      report = await verifyClassifierInBrowser(modelPath, { ...(mean ? { mean } : {}), ...(std ? { std } : {}) });
    } else {
      report = await verifyClassifier(modelPath, { ...(mean ? { mean } : {}), ...(std ? { std } : {}), ...(threads ? { threads } : {}) });
    }
    if (values.json) io.out(`${JSON.stringify({ ok: true, ...report }, null, 2)}\n`);
    else
      io.out(`ok: ${report.runtime} reproduces the ${report.samples} stored samples of ${report.model} (largest difference ${report.maxDifference.toExponential(2)}, tolerance ${report.tolerance})\n`);
    return 0;
  },
});
