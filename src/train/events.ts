/**
 * The fixed list of named events a training run fires, and the bus that delivers them to
 * listeners (fastai's callbacks). Progress bars, logs, JSON lines, checkpoints and early
 * stopping are listeners in their own files; the loop only fires events and reads stop
 * requests. Handlers run in listener order and are awaited, so a checkpoint is on disk
 * before the next epoch starts. Field names are snake_case: they are what `--json` prints.
 */
import type { ConcreteMode, ResolvedTrainConfig } from './options.js';
import type { EpochRecord, History } from '../metrics/history.js';
import type { CheckpointState } from './checkpoint.js';
import type { BatchSource } from './image-batches.js';

export type Phase = 'train' | 'val' | 'extract';

export interface TrainEvents {
  /** Everything is loaded; the first epoch is about to start. */
  run_start: {
    model: string;
    mode: ConcreteMode;
    classes: string[];
    train_images: number;
    val_images: number;
    epochs: number;
    /** First epoch this run trains (> 1 when resumed). */
    start_epoch: number;
    out: string;
    device: string;
    threads: number;
  };
  /** A sentence worth telling the user (weights loaded, head re-initialised, auto-mode decision, cache hit). */
  log: { level: 'info' | 'warn'; message: string };
  /** Bytes of a weight download so far. */
  download: { bytes: number; total: number | null };
  epoch_start: { epoch: number; epochs: number; lr: number };
  /** A phase begins: train or val of an epoch, or the one-off feature extraction (epoch null). */
  phase_start: { epoch: number | null; phase: Phase; batches: number; images: number };
  /** Running mean loss and accuracy of the phase so far (null in feature extraction, which has no labels' loss). */
  /** `loss`/`acc`: running means of the phase; train batches also carry the step's own loss and learning rate (the largest group's). */
  batch_end: { epoch: number | null; phase: Phase; batch: number; batches: number; images: number; loss: number | null; acc: number | null; batch_loss?: number; lr?: number };
  phase_end: { epoch: number | null; phase: Phase; loss: number | null; acc: number | null; images: number; seconds: number; images_per_s: number };
  /** One finished epoch: its history record, and whether it is the best so far. */
  epoch_end: EpochRecord & { epochs: number; is_best: boolean };
  /** A new best val accuracy; its weights are kept. */
  best: { epoch: number; val_acc: number };
  /** A checkpoint was written atomically. */
  checkpoint: { epoch: number; path: string };
  early_stop: { epoch: number; patience: number; best_epoch: number; best_val_acc: number };
  /** An image failed to load and was left out (the run goes on). */
  skipped_image: { path: string; reason: string };
  /** The run was stopped (Ctrl-C / AbortSignal); `checkpoint` is the last finished epoch's. */
  interrupted: { epoch: number; checkpoint: string | null; message: string };
  /** The last event of a finished run. */
  done: { best_val_acc: number; best_epoch: number; epochs: number; seconds: number; out: string };
}

export type TrainEventName = keyof TrainEvents;

/**
 * Events that may fire while a run is still being set up (loading weights, the auto-mode
 * probe's feature extraction) or stop it before it starts (interrupted), before its context
 * exists: their handlers get the context when there is one, `undefined` before. Every other event fires only inside a run.
 */
export const SETUP_EVENT_NAMES = ['log', 'download', 'skipped_image', 'phase_start', 'batch_end', 'phase_end', 'interrupted'] as const satisfies readonly TrainEventName[];
export type SetupEventName = (typeof SETUP_EVENT_NAMES)[number];

/** The fixed list, in the order a run fires them. */
export const TRAIN_EVENT_NAMES = [
  'run_start',
  'log',
  'download',
  'epoch_start',
  'phase_start',
  'batch_end',
  'phase_end',
  'epoch_end',
  'best',
  'checkpoint',
  'early_stop',
  'skipped_image',
  'interrupted',
  'done',
] as const satisfies readonly TrainEventName[];

/** What a listener may read and do. */
export interface TrainContext {
  readonly out: string;
  readonly config: ResolvedTrainConfig;
  readonly classes: readonly string[];
  /** The history so far (replaced, never mutated, at each epoch). */
  readonly history: History;
  /** The last checkpoint written (by the checkpoint listener), or null. */
  readonly lastCheckpoint: string | null;
  /** Stops the run after the current epoch. */
  requestStop(reason: string): void;
  /** Everything a checkpoint holds, as of the last finished epoch. */
  snapshot(): CheckpointState;
  emit<K extends TrainEventName>(name: K, payload: TrainEvents[K]): Promise<void>;
}

/** The context a handler gets: always inside a run, possibly none for setup events. */
export type ContextOf<K extends TrainEventName> = K extends SetupEventName ? TrainContext | undefined : TrainContext;

/** A handler may return anything; a returned promise is awaited before the run goes on. */
export type TrainHandler<K extends TrainEventName> = (event: TrainEvents[K], ctx: ContextOf<K>) => unknown;

/** A listener: handlers for the events it cares about. */
export type TrainListener = { [K in TrainEventName]?: TrainHandler<K> };

/**
 * Delivers events to listeners, in order. Before a run exists it can only fire setup events;
 * `forRun(ctx)` gives the bus of a run, which fires every event with its context.
 */
export class EventBus {
  private readonly listeners: TrainListener[];

  constructor(listeners: readonly TrainListener[] = []) {
    this.listeners = [...listeners];
  }

  add(listener: TrainListener): void {
    this.listeners.push(listener);
  }

  emit<K extends SetupEventName>(name: K, payload: TrainEvents[K]): Promise<void> {
    return this.deliver(name, payload, undefined as ContextOf<K>);
  }

  forRun(ctx: TrainContext): RunBus {
    return { emit: (name, payload) => this.deliver(name, payload, ctx) };
  }

  private async deliver<K extends TrainEventName>(name: K, payload: TrainEvents[K], ctx: ContextOf<K>): Promise<void> {
    for (const l of this.listeners) {
      const h = l[name];
      if (h) await h.call(l, payload, ctx);
    }
  }
}

/** What can fire setup events: the bus before a run, or a run's bus. */
export interface SetupEmitter {
  emit<K extends SetupEventName>(name: K, payload: TrainEvents[K]): Promise<void>;
}

/** The bus of a run: every event, delivered with the run's context. */
export interface RunBus {
  emit<K extends TrainEventName>(name: K, payload: TrainEvents[K]): Promise<void>;
}

/** What a run is told at run time besides its options: listeners, a stop signal, download progress. */
export interface TrainHooks {
  /** Event listeners (objects of handlers keyed by event name, src/train/events.ts). */
  listeners?: readonly TrainListener[];
  /** Stops the run at the next batch; the last finished epoch's checkpoint is kept. */
  signal?: AbortSignal;
  /** Called with (bytes, total) while weights download. */
  onDownloadProgress?: (bytes: number, total: number | undefined) => void;
  /** Replaces fine-tuning's image loader (benchmarks: an in-memory source shows what the data costs an epoch). */
  batches?: BatchSource;
}
