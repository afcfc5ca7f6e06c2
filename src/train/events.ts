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
  phase_start: { epoch: number; phase: Phase; batches: number; images: number };
  batch_end: { epoch: number; phase: Phase; batch: number; batches: number; images: number; loss: number; acc: number };
  phase_end: { epoch: number; phase: Phase; loss: number; acc: number; images: number; seconds: number; images_per_s: number };
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
  /** Stops the run after the current epoch. */
  requestStop(reason: string): void;
  /** Everything a checkpoint holds, as of the last finished epoch. */
  snapshot(): CheckpointState;
  emit<K extends TrainEventName>(name: K, payload: TrainEvents[K]): Promise<void>;
}

/** A handler may return anything; a returned promise is awaited before the run goes on. */
export type TrainHandler<K extends TrainEventName> = (event: TrainEvents[K], ctx: TrainContext) => unknown;

/** A listener: handlers for the events it cares about. */
export type TrainListener = { [K in TrainEventName]?: TrainHandler<K> };

/** Delivers events to listeners, in order. */
export class EventBus {
  private ctx: TrainContext | undefined;

  private readonly listeners: TrainListener[];

  constructor(listeners: readonly TrainListener[] = []) {
    this.listeners = [...listeners];
  }

  add(listener: TrainListener): void {
    this.listeners.push(listener);
  }

  attach(ctx: TrainContext): void {
    this.ctx = ctx;
  }

  async emit<K extends TrainEventName>(name: K, payload: TrainEvents[K]): Promise<void> {
    const ctx = this.ctx ?? DETACHED;
    for (const l of this.listeners) {
      const h = l[name] as TrainHandler<K> | undefined;
      if (h) await h.call(l, payload, ctx);
    }
  }
}

/** Context for events fired before the run is set up (downloads, logs while loading). */
const DETACHED: TrainContext = {
  out: '',
  config: undefined as unknown as ResolvedTrainConfig,
  classes: [],
  history: { epochs: [] },
  requestStop: () => {},
  snapshot: () => {
    throw new Error('no checkpoint state before the run starts');
  },
  emit: async () => {},
};
