/**
 * `compare(dataRoot, options)`: the two classic recipes with the same budget (same data,
 * epochs, optimiser and seed) — fine-tuning the whole network and training only the new
 * classifier on frozen features — then both on one set of loss and accuracy curves (the
 * PyTorch tutorial's figures) with the time each took.
 */
import { makeOutDir } from './out-dir.js';
import { join, resolve } from 'node:path';
import { parseCompareOptions, requestedModel, type CompareOptions } from './options.js';
import type { TrainHooks } from './events.js';
import { compareSvg, type CompareRun } from '../report/curves.js';
import { renderHtmlReport } from '../report/html-report.js';
import { svgToPng } from '../report/svg-to-png.js';
import { writeFileAtomic } from '../atomic-write.js';
import { train, type TrainResult } from './train.js';

export interface CompareResult {
  out: string;
  finetune: TrainResult;
  features: TrainResult;
  /** compare.svg / compare.png / compare.html in `out`. */
  svgPath: string;
  pngPath: string;
  reportPath: string;
  /** Ratio of the fine-tuning run's wall time to the feature-extraction run's. */
  speedup: number;
  interrupted: boolean;
}

export const COMPARE_NAMES = { finetune: 'fine-tuning', features: 'feature extraction' } as const;

export async function compare(dataRoot: string, options?: CompareOptions, hooks: TrainHooks = {}): Promise<CompareResult> {
  const o = parseCompareOptions(options);
  const model = requestedModel(o);
  const name = typeof model === 'string' ? model : model.name;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const out = resolve(o.out ?? join('runs', `${stamp}-${name}-compare`));
  await makeOutDir(out);
  const given = { ...(options ?? {}) } as Record<string, unknown>;
  delete given.out;
  const finetune = await train(dataRoot, { ...given, mode: 'finetune', out: join(out, 'finetune') }, hooks);
  const features = finetune.interrupted ? finetune : await train(dataRoot, { ...given, mode: 'features', out: join(out, 'features') }, hooks);
  const runs: CompareRun[] = [
    { name: COMPARE_NAMES.finetune, history: finetune.history, seconds: finetune.seconds },
    { name: COMPARE_NAMES.features, history: features.history, seconds: features.seconds },
  ];
  const svgPath = join(out, 'compare.svg');
  const pngPath = join(out, 'compare.png');
  const reportPath = join(out, 'compare.html');
  const interrupted = finetune.interrupted || features.interrupted;
  if (!interrupted) {
    const svg = compareSvg(runs);
    await writeFileAtomic(svgPath, svg);
    await writeFileAtomic(pngPath, await svgToPng(svg));
    const html = renderHtmlReport(
      {
        classes: finetune.classes,
        history: finetune.history,
        compare: runs,
        timings: { 'fine-tuning run': finetune.seconds, 'feature-extraction run': features.seconds },
        config: { model: finetune.config.model, epochs: finetune.config.epochs, recipe: finetune.config.recipe, finetune_out: finetune.out, features_out: features.out },
        generatedAt: new Date().toISOString(),
      },
      { title: `headstart compare: ${finetune.config.model}` },
    );
    await writeFileAtomic(reportPath, html);
    const summary = {
      model: finetune.config.model,
      epochs: finetune.config.epochs,
      finetune: { best_val_acc: finetune.bestValAcc, best_epoch: finetune.bestEpoch, seconds: finetune.seconds, out: finetune.out },
      features: { best_val_acc: features.bestValAcc, best_epoch: features.bestEpoch, seconds: features.seconds, out: features.out },
    };
    await writeFileAtomic(join(out, 'compare.json'), JSON.stringify(summary, null, 2) + '\n');
  }
  return { out, finetune, features, svgPath, pngPath, reportPath, speedup: features.seconds > 0 ? finetune.seconds / features.seconds : 0, interrupted };
}
