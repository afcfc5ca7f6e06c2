/**
 * Listener: appends the run's events as JSON lines to `events.jsonl` in the run folder, so
 * `headstart serve` (or `tail -f`) can watch a run started anywhere. The lines are those of
 * `--json` (jsonLines), plus phase starts and batch progress at most every `batchEveryMs`
 * (and always a phase's last batch) for a progress bar with images/s and ETA. Each line is
 * written whole with one append, so a reader never sees half an event from a finished write.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainListener } from '../events.js';
import { jsonLines } from './json-lines.js';

/** The file name of the event log in a run folder. */
export const EVENTS_FILE = 'events.jsonl';

export function eventsFile(options: { batchEveryMs?: number } = {}): TrainListener {
  const every = options.batchEveryMs ?? 250;
  let path: string | null = null;
  let lastBatch = 0;
  const write = (line: string) => {
    if (!path) return;
    try {
      appendFileSync(path, `${line}\n`);
    } catch (err) {
      // The run removed its folder (interrupted before anything was saved): nothing left to log to.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      path = null;
    }
  };
  const lines = jsonLines(write);
  const listener: TrainListener = {
    ...lines,
    run_start(e, ctx) {
      path = join(ctx.out, EVENTS_FILE);
      write(JSON.stringify({ event: 'run_start', ...e, time: new Date().toISOString() }));
    },
    phase_start(e) {
      lastBatch = 0;
      write(JSON.stringify({ event: 'phase_start', ...e }));
    },
    batch_end(e) {
      const now = performance.now();
      if (e.batch < e.batches && now - lastBatch < every) return;
      lastBatch = now;
      write(JSON.stringify({ event: 'batch_end', ...e }));
    },
  };
  return listener;
}
