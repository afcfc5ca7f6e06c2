/** Rebuilds a transform from its plain-data spec (the inverse of each factory's `spec`). */
import { ConfigError } from '../../errors.js';
import type { Interpolation } from '../preprocess.js';
import { centerCrop } from './center-crop.js';
import { colorJitter } from './color-jitter.js';
import { randAugment, trivialAugmentWide } from './auto-augment.js';
import { randomHorizontalFlip } from './horizontal-flip.js';
import { randomResizedCrop } from './random-resized-crop.js';
import { resize } from './resize.js';
import type { ImageTransform, TransformSpec } from './transform.js';

type Size = number | [number, number];

const FACTORIES: Record<string, (s: TransformSpec) => ImageTransform> = {
  randomResizedCrop: (s) => randomResizedCrop(s.size as number, { scale: s.scale as [number, number], ratio: s.ratio as [number, number], interpolation: s.interpolation as Interpolation }),
  randomHorizontalFlip: (s) => randomHorizontalFlip(s.p as number),
  resize: (s) => resize(s.size as Size, s.interpolation as Interpolation),
  centerCrop: (s) => centerCrop(s.size as Size),
  colorJitter: ({ op: _op, ...options }) => colorJitter(options),
  trivialAugmentWide: (s) => trivialAugmentWide({ bins: s.bins as number }),
  randAugment: (s) => randAugment({ numOps: s.numOps as number, magnitude: s.magnitude as number, bins: s.bins as number }),
};

export function transformFromSpec(spec: TransformSpec): ImageTransform {
  const make = FACTORIES[spec.op];
  if (!make) throw new ConfigError('E_BAD_OPTION', `Unknown transform \`${spec.op}\``, { hint: `known: ${Object.keys(FACTORIES).join(', ')}` });
  return make(spec);
}
