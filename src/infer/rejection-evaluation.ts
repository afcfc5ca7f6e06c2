/**
 * `evaluate --unknown-dir DIR`: how well the model's "unknown" score separates the labelled
 * (known) images from images of none of its classes: AUROC, the share of unknown images
 * accepted when 95% of the known ones are (FPR at 95% TPR), the share of known images accepted
 * when 80% of the unknown ones are rejected (TPR at FPR 20%), and, at the model's own
 * threshold, the shares accepted / rejected and the accuracy of the accepted known images.
 */
import { fprAt95Tpr, knownAcceptedAtUnknownRejected, rejectedFraction, rejectionAuroc } from '../metrics/rejection.js';
import type { ClassifiedImage } from './classifier.js';

export interface RejectionEvaluation {
  unknownDir: string;
  unknownImages: number;
  /** The score used: the model's (`msp` or `energy`), or the maximum probability for a model without a threshold. */
  score: string;
  auroc: number;
  fprAt95Tpr: number;
  /** Share of known images accepted by the threshold that rejects 80% of the unknown ones (TPR at FPR 20%). */
  knownAcceptedAt80Rejected: number;
  /** At the model's threshold (absent when the model has none). */
  threshold?: number;
  knownAccepted?: number;
  unknownRejected?: number;
  /** Accuracy of the known images the threshold accepts. */
  acceptedAccuracy?: number;
  acceptedImages?: number;
}

const scoreOf = (img: ClassifiedImage) => img.score ?? Math.max(...img.probabilities);

export function evaluateRejection(
  known: readonly ClassifiedImage[],
  correct: readonly boolean[],
  unknown: readonly ClassifiedImage[],
  o: { unknownDir: string; score?: string; threshold?: number },
): RejectionEvaluation {
  const ks = known.map(scoreOf);
  const us = unknown.map(scoreOf);
  const out: RejectionEvaluation = {
    unknownDir: o.unknownDir,
    unknownImages: unknown.length,
    score: o.score ?? 'msp',
    auroc: rejectionAuroc(ks, us),
    fprAt95Tpr: fprAt95Tpr(ks, us),
    knownAcceptedAt80Rejected: knownAcceptedAtUnknownRejected(ks, us, 0.8),
  };
  if (o.threshold === undefined) return out;
  const t = o.threshold;
  let accepted = 0;
  let right = 0;
  ks.forEach((s, i) => {
    if (s >= t) {
      accepted++;
      if (correct[i]) right++;
    }
  });
  return { ...out, threshold: t, knownAccepted: 1 - rejectedFraction(ks, t), unknownRejected: rejectedFraction(us, t), acceptedAccuracy: accepted ? right / accepted : NaN, acceptedImages: accepted };
}
