/** Listener: stops the run when val accuracy has not improved for `patience` epochs. */
import { bestEpoch } from '../../metrics/history.js';
import type { TrainListener } from '../events.js';

export function earlyStopping(patience: number): TrainListener {
  return {
    async epoch_end(e, ctx) {
      const best = bestEpoch(ctx.history);
      if (!best || e.epoch - best.epoch < patience || e.epoch >= e.epochs) return;
      ctx.requestStop(`val accuracy has not improved for ${patience} epochs`);
      await ctx.emit('early_stop', { epoch: e.epoch, patience, best_epoch: best.epoch, best_val_acc: best.val_acc });
    },
  };
}
