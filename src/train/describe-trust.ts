/** The notes a finished run prints about its calibration and "unknown" threshold. */
import type { ModelTrust } from './model-trust.js';
import { TEMPERATURE_RANGE } from '../metrics/calibration.js';

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export function describeTrust(t: ModelTrust): string[] {
  const out: string[] = [];
  const c = t.calibration;
  if (c) {
    out.push(
      `calibration: temperature ${c.temperature.toFixed(3)} fitted on ${c.images} val images; ECE (15 bins) ${c.before.ece.toFixed(4)} -> ${c.after.ece.toFixed(4)}, NLL ${c.before.nll.toFixed(4)} -> ${c.after.nll.toFixed(4)}`,
    );
    if (c.temperature <= TEMPERATURE_RANGE[0] * 1.001 || c.temperature >= TEMPERATURE_RANGE[1] * 0.999) {
      out.push(
        `calibration: the temperature is at the end of its range [${TEMPERATURE_RANGE.join(', ')}]: the val split is (nearly) separable or too small to calibrate on; treat the probabilities with care`,
      );
    }
  }
  out.push(...(t.notes ?? []));
  const r = t.rejection;
  if (r) {
    const how = r.method === 'unknown-dir' ? `best F1 against ${r.unknownImages} unknown images` : `target ${pct(r.rejectRate ?? 0)} of val rejected`;
    const centre = r.featureDistance?.unknownImages ? ' (scored by fits that left each out; they also have a centre of their own)' : '';
    const unknown = r.unknownRejected !== undefined ? `, ${pct(r.unknownRejected)} of the unknown images rejected${centre}, AUROC ${r.auroc?.toFixed(4)}` : '';
    out.push(`"unknown" below ${r.score} score ${r.threshold.toPrecision(5)} (${how}): ${pct(r.valRejected)} of val rejected${unknown}`);
  }
  return out;
}
