/**
 * The doctor's findings the review page acts on: exact duplicates within a split and the same
 * image in two splits (train/val leakage), from data/doctor.ts, each with whether it was
 * marked as fine in the change log (the same kind and the same files).
 */
import { doctor, type Finding } from '../data/doctor.js';
import type { DatasetChange } from './dataset-changes.js';

export interface ReviewFinding extends Finding {
  kind: 'duplicate' | 'leak';
  /** Marked as fine on the review page (the change's id). */
  fine: string | null;
}

const key = (kind: string, paths: readonly string[]) => `${kind}\n${[...paths].sort().join('\n')}`;

export async function datasetFindings(root: string, log: readonly DatasetChange[]): Promise<{ findings: ReviewFinding[]; images: number; seconds: number }> {
  const started = performance.now();
  const report = await doctor(root, { inputSize: 8 });
  const fine = new Map<string, string>();
  for (const c of log) if (c.op === 'fine' && c.about && c.paths) fine.set(key(c.about, c.paths), c.id);
  const findings = report.findings
    .filter((f): f is Finding & { kind: 'duplicate' | 'leak' } => f.kind === 'duplicate' || f.kind === 'leak')
    .map((f) => ({ ...f, fine: fine.get(key(f.kind, f.paths)) ?? null }));
  return { findings, images: report.files.images, seconds: (performance.now() - started) / 1000 };
}
