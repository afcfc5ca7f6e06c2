/**
 * Listener for a terminal (TTY): a progress bar per phase (train, val, feature extraction,
 * download) with images/s and ETA, and the plain-log lines printed above the bars. Off a
 * TTY the CLI uses the plain log alone.
 */
import cliProgress from 'cli-progress';
import type { Phase, TrainListener } from '../train/events.js';
import { plainLog } from '../train/listeners/plain-log.js';

const LABEL: Record<Phase, string> = { train: 'train', val: 'val  ', extract: 'features' };

export function progressBars(stream: NodeJS.WriteStream = process.stderr): TrainListener & { stop(): void } {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      format: ' {label} {epoch} [{bar}] {value}/{total} batches | {metrics}{rate} img/s | ETA {eta_formatted}',
      barsize: 28,
      hideCursor: true,
      clearOnComplete: true,
      fps: 8,
      autopadding: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  let started = 0;
  let download: cliProgress.SingleBar | undefined;
  // Lines go above the bars while they run, straight to the stream otherwise.
  const lines = plainLog((line) => (multi.isActive ? multi.log(`${line}\n`) : stream.write(`${line}\n`)));
  const end = () => {
    if (bar) multi.remove(bar);
    bar = undefined;
  };
  return {
    ...lines,
    phase_start(e) {
      end();
      started = performance.now();
      const epoch = e.epoch === null ? '' : `${e.epoch}`;
      bar = multi.create(Math.max(1, e.batches), 0, { label: LABEL[e.phase], epoch, metrics: '', rate: '0.0' });
    },
    batch_end(e) {
      const secs = (performance.now() - started) / 1000;
      const metrics = e.loss === null || e.acc === null ? '' : `loss ${e.loss.toFixed(4)} acc ${(e.acc * 100).toFixed(1)}% | `;
      bar?.update(e.batch, { metrics, rate: secs > 0 ? (e.images / secs).toFixed(1) : '0.0' });
    },
    phase_end(e, ctx) {
      end();
      lines.phase_end?.(e, ctx);
    },
    download(e) {
      const total = e.total ?? 0;
      if (!download)
        download = multi.create(
          Math.max(1, total),
          0,
          { label: 'download', epoch: '', metrics: '', rate: '' },
          { format: ' download [{bar}] {percentage}% | {value}/{total} bytes | ETA {eta_formatted}' },
        );
      download.update(e.bytes);
      if (total && e.bytes >= total) {
        multi.remove(download);
        download = undefined;
      }
    },
    done(e, ctx) {
      end();
      multi.stop();
      lines.done?.(e, ctx);
    },
    interrupted(e, ctx) {
      end();
      multi.stop();
      lines.interrupted?.(e, ctx);
    },
    stop() {
      end();
      multi.stop();
    },
  };
}
