/**
 * A process-wide pool of decode worker threads (decode-worker.ts), shared by every loader.
 * Workers start on first use and do not keep the process alive while idle. Under tsx (running
 * the TypeScript sources) each worker registers tsx before loading its entry module.
 */
import { Worker } from 'node:worker_threads';
import { DataError, HeadstartError, IOError } from '../errors.js';
import type { SampleError } from './decode.js';
import type { DecodeResult, DecodeTask } from './decode-worker.js';

interface Slot {
  worker: Worker;
  pending: number;
}

export class DecodePool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (r: DecodeResult) => void; reject: (e: Error) => void; slot: Slot }>();
  private nextId = 0;
  private failure: Error | null = null;

  private static instance: DecodePool | undefined;

  /** The shared pool, grown to at least `size` workers. */
  static shared(size: number): DecodePool {
    DecodePool.instance ??= new DecodePool();
    DecodePool.instance.grow(size);
    return DecodePool.instance;
  }

  get size(): number {
    return this.slots.length;
  }

  private grow(size: number): void {
    while (this.slots.length < size) {
      const worker = startWorker();
      const slot: Slot = { worker, pending: 0 };
      worker.unref();
      worker.on('message', (r: DecodeResult) => {
        const w = this.waiting.get(r.id);
        if (!w) return;
        this.waiting.delete(r.id);
        if (--slot.pending === 0) worker.unref();
        w.resolve(r);
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) =>
        this.fail(
          new DataError('E_INTERNAL', `A decode worker exited with code ${code}`, { hint: 'the image decoder crashed (out of memory?); the loader option workers: 0 decodes on the main thread' }),
        ),
      );
      this.slots.push(slot);
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [id, w] of this.waiting) {
      this.waiting.delete(id);
      w.reject(err);
    }
  }

  /** Runs one image on the least busy worker. Resolves ok, or with the error of a bad file. */
  async run(task: Omit<DecodeTask, 'id'>): Promise<SampleError | null> {
    if (this.failure) throw this.failure;
    let slot = this.slots[0];
    for (const s of this.slots) if (s.pending < slot.pending) slot = s;
    const id = this.nextId++;
    const result = await new Promise<DecodeResult>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot });
      if (slot.pending++ === 0) slot.worker.ref();
      slot.worker.postMessage({ ...task, id } satisfies DecodeTask);
    });
    if (result.ok) return null;
    const e = result.error!;
    const options = e.hint === undefined ? undefined : { hint: e.hint };
    if (e.className === 'DataError') return new DataError(e.code ?? 'E_BAD_IMAGE', e.message, options);
    if (e.className === 'IOError') return new IOError(e.code ?? 'E_READ_FAILED', e.message, options);
    if (e.code) throw new HeadstartError(e.code, e.message, options);
    throw new DataError('E_INTERNAL', `A decode worker failed on \`${task.path}\`: ${e.message} (a bug in headstart: please report it)`);
  }
}

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from source: the worker must register tsx before it can import .ts files.
    const entry = new URL('./decode-worker.ts', here).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(boot, { eval: true });
  }
  return new Worker(new URL('./decode-worker.js', here));
}
