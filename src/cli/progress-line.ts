/**
 * A one-line progress bar for a terminal (stderr), redrawn in place at most 8 times a
 * second: label, bar, done/total, images/s and ETA. `end` clears the line.
 */
export interface ProgressLine {
  update(done: number, total: number): void;
  end(): void;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressLine(write: (text: string) => void, label: string, width = 28, now: () => number = () => performance.now()): ProgressLine {
  const started = now();
  let last = -Infinity;
  let drawn = false;
  return {
    update(done, total) {
      const t = now();
      if (done < total && t - last < 125) return;
      last = t;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const fill = Math.round(frac * width);
      const secs = (t - started) / 1000;
      const rate = secs > 0 ? done / secs : 0;
      const eta = rate > 0 ? (total - done) / rate : Infinity;
      write(`\r\x1b[K ${label} [${'='.repeat(fill)}${' '.repeat(width - fill)}] ${done}/${total} images | ${rate.toFixed(0)} img/s | ETA ${duration(eta)}`);
      drawn = true;
    },
    end() {
      if (drawn) write('\r\x1b[K');
      drawn = false;
    },
  };
}
