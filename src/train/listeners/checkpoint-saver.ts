/**
 * Listener: writes checkpoint.bin (everything to resume) atomically after every epoch, and
 * best.safetensors (the weights training changed, at the best val accuracy: the whole network
 * when fine-tuning, the new classifier in features mode) whenever a new best is reached.
 */
import { join } from 'node:path';
import { writeSafetensors } from '../../weights/safetensors.js';
import { writeFileAtomic } from '../../atomic-write.js';
import { writeCheckpoint } from '../checkpoint.js';
import type { TrainListener } from '../events.js';

export const CHECKPOINT_FILE = 'checkpoint.bin';
const BEST_FILE = 'best.safetensors';

export function checkpointSaver(out: string): TrainListener {
  return {
    async epoch_end(e, ctx) {
      const state = ctx.snapshot();
      if (e.is_best && state.best) {
        const metadata = { epoch: String(state.best.epoch), val_acc: String(state.best.valAcc), model: state.config.model, classes: JSON.stringify(state.classes) };
        await writeFileAtomic(join(out, BEST_FILE), writeSafetensors(state.best.params, { metadata }));
      }
      const path = join(out, CHECKPOINT_FILE);
      await writeCheckpoint(path, state);
      await ctx.emit('checkpoint', { epoch: e.epoch, path });
    },
  };
}
