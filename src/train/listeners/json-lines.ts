/**
 * Listener: one JSON object per line (`--json`). Epoch ends print as
 * `{"event":"epoch","epoch",...,"train_loss","train_acc","val_loss","val_acc","seconds","images_per_s"}`
 * and the last line of a finished run is `{"event":"done","best_val_acc","seconds","out"}`.
 * Per-batch events are left out (they would flood a log); everything else is printed as is.
 */
import type { TrainEventName, TrainEvents, TrainListener } from '../events.js';

const PRINTED: readonly TrainEventName[] = ['run_start', 'log', 'best', 'checkpoint', 'early_stop', 'skipped_image', 'interrupted', 'done'];

export function jsonLines(write: (line: string) => void): TrainListener {
  const listener: TrainListener = {
    epoch_end(e) {
      const { is_best, epochs, ...record } = e;
      write(JSON.stringify({ event: 'epoch', ...record, epochs, is_best }));
    },
    phase_end(e) {
      if (e.phase === 'extract') write(JSON.stringify({ event: 'features_extracted', images: e.images, seconds: e.seconds, images_per_s: e.images_per_s }));
    },
  };
  for (const name of PRINTED) {
    (listener as Record<string, unknown>)[name] = (e: TrainEvents[typeof name]) => write(JSON.stringify({ event: name, ...e }));
  }
  return listener;
}
