/**
 * Listener: plain text lines (no terminal control codes), for logs and pipes: what was
 * loaded, one line per epoch, and the result.
 */
import type { TrainListener } from '../events.js';

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

function formatEpochLine(e: {
  epoch: number;
  epochs: number;
  train_loss: number;
  train_acc: number;
  val_loss: number;
  val_acc: number;
  seconds: number;
  images_per_s: number;
  is_best: boolean;
}): string {
  const w = String(e.epochs).length;
  return (
    `epoch ${String(e.epoch).padStart(w)}/${e.epochs}  train loss ${e.train_loss.toFixed(4)} acc ${pct(e.train_acc)}  ` +
    `val loss ${e.val_loss.toFixed(4)} acc ${pct(e.val_acc)}  ${e.seconds.toFixed(1)} s  ${e.images_per_s.toFixed(1)} img/s${e.is_best ? '  *best' : ''}`
  );
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The epochs a run will train: "epochs 1-25", "epoch 1", or none left (a resumed run that already holds them). */
function epochRange(start: number, end: number): string {
  if (start > end) return `no epochs left to train (${plural(start - 1, 'epoch')} done of ${end})`;
  return start === end ? `epoch ${start}` : `epochs ${start}-${end}`;
}

export function plainLog(write: (line: string) => void, options: { epochs?: boolean } = {}): TrainListener {
  const epochs = options.epochs ?? true;
  return {
    run_start(e) {
      write(
        `${e.model}, ${e.mode === 'features' ? 'feature extraction' : 'fine-tuning'}: ${plural(e.classes.length, 'class', 'classes')}, ${e.train_images} train / ${e.val_images} val images, ${epochRange(e.start_epoch, e.epochs)}, ${e.device} x${plural(e.threads, 'thread')}`,
      );
    },
    log(e) {
      write(e.level === 'warn' ? `warning: ${e.message}` : e.message);
    },
    phase_end(e) {
      if (e.phase === 'extract') write(`features: ${e.images} images through the backbone in ${e.seconds.toFixed(1)} s (${e.images_per_s.toFixed(1)} img/s)`);
    },
    epoch_end(e) {
      if (epochs) write(formatEpochLine(e));
    },
    early_stop(e) {
      write(`early stop at epoch ${e.epoch}: no improvement for ${e.patience} epochs (best ${pct(e.best_val_acc)} at epoch ${e.best_epoch})`);
    },
    skipped_image(e) {
      write(`warning: skipped ${e.path}: ${e.reason}`);
    },
    interrupted(e) {
      write(e.message);
    },
    done(e) {
      write(`best val accuracy ${pct(e.best_val_acc)} (epoch ${e.best_epoch}) in ${e.seconds.toFixed(1)} s; outputs in ${e.out}`);
    },
  };
}
