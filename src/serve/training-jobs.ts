/**
 * Training runs started from the web page: each runs in this process with `train()`, writes
 * into its own new folder under the runs directory (its events.jsonl is what the page
 * watches, as for a run started from the CLI), and stops cleanly through an AbortSignal (the
 * last finished epoch's checkpoint is kept, so `headstart train --resume` goes on).
 */
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, HeadstartError } from '../errors.js';
import { parseOrThrow } from '../zod-issues.js';
import { train } from '../train/train.js';

const StartRunSchema = z.strictObject({
  data: z.string().min(1),
  model: z.string().min(1).default('mobilenet_v2_offline'),
  mode: z.enum(['features', 'finetune', 'auto']).default('features'),
  recipe: z.string().min(1).optional(),
  epochs: z.int().min(1).max(1000).default(5),
  seed: z.int().min(0).optional(),
  inputSize: z.int().min(8).max(1024).optional(),
  threads: z.int().min(1).max(64).optional(),
});

export interface TrainingJob {
  name: string;
  state: 'running' | 'finished' | 'stopped' | 'failed';
  error?: { code: string; message: string; hint?: string };
  bestValAcc?: number;
  done: Promise<void>;
  stop(): void;
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

export class TrainingJobs {
  private readonly jobs = new Map<string, TrainingJob>();

  constructor(private readonly runsDir: string) {}

  get(name: string): TrainingJob | undefined {
    return this.jobs.get(name);
  }

  isRunning(name: string): boolean {
    return this.jobs.get(name)?.state === 'running';
  }

  /** Starts a run; returns at once with its job (the run goes on in the background). */
  start(body: unknown): TrainingJob {
    const o = parseOrThrow(StartRunSchema, body, 'start a run');
    if ([...this.jobs.values()].some((j) => j.state === 'running')) {
      throw new ConfigError('E_INCOMPATIBLE_OPTIONS', 'a run started from this page is still training', { hint: 'wait for it to finish or press Stop first' });
    }
    let name = `${stamp(new Date())}-${o.model}-${o.mode}`;
    for (let i = 2; this.jobs.has(name); i++) name = `${stamp(new Date())}-${o.model}-${o.mode}-${i}`;
    const controller = new AbortController();
    const job: TrainingJob = {
      name,
      state: 'running',
      done: Promise.resolve(),
      stop: () => controller.abort(new Error('stopped from the web page')),
    };
    job.done = train(
      o.data,
      {
        model: o.model,
        mode: o.mode,
        epochs: o.epochs,
        out: join(this.runsDir, name),
        ...(o.recipe !== undefined ? { recipe: o.recipe } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        ...(o.inputSize !== undefined ? { inputSize: o.inputSize } : {}),
        ...(o.threads !== undefined ? { threads: o.threads } : {}),
      } as Parameters<typeof train>[1],
      { signal: controller.signal },
    ).then(
      (r) => {
        job.state = 'finished';
        job.bestValAcc = r.bestValAcc;
      },
      (err: unknown) => {
        const e = err instanceof HeadstartError ? err : undefined;
        job.state = controller.signal.aborted ? 'stopped' : 'failed';
        job.error = { code: e?.code ?? 'E_INTERNAL', message: (err as Error).message, ...(e?.hint ? { hint: e.hint } : {}) };
      },
    );
    this.jobs.set(name, job);
    return job;
  }

  /** Asks every running job to stop and waits for them. */
  async stopAll(): Promise<void> {
    for (const j of this.jobs.values()) if (j.state === 'running') j.stop();
    await Promise.all([...this.jobs.values()].map((j) => j.done));
  }
}
