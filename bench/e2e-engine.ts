/** The E2E_ENGINE switch of the real-data benches: headstart's fine-tuning step engine (train()'s `engine`), or undefined for train()'s default. */
import { TRAIN_ENGINES } from '../src/train/options.js';

export function parseEngine(value: string | undefined): (typeof TRAIN_ENGINES)[number] | undefined {
  if (value === undefined || value === '') return undefined;
  const engine = TRAIN_ENGINES.find((e) => e === value);
  if (!engine) throw new Error(`E2E_ENGINE=${value}: expected one of ${TRAIN_ENGINES.join(', ')}`);
  return engine;
}
