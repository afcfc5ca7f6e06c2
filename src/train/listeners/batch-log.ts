/**
 * Listener: records every training step's loss and learning rate (from the train phase's
 * batch_end events), for the report's per-batch curves. A resumed run records the steps it ran.
 */
import type { TrainListener } from '../events.js';

export interface BatchRecord {
  epoch: number;
  /** 1-based within the epoch. */
  batch: number;
  batches: number;
  loss: number;
  lr: number;
}

export function batchLog(): { listener: TrainListener; records: BatchRecord[] } {
  const records: BatchRecord[] = [];
  return {
    records,
    listener: {
      batch_end(e) {
        if (e.phase !== 'train' || e.epoch === null || e.batch_loss === undefined || e.lr === undefined) return;
        records.push({ epoch: e.epoch, batch: e.batch, batches: e.batches, loss: e.batch_loss, lr: e.lr });
      },
    },
  };
}
