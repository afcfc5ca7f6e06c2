/**
 * The record of a training run: one entry per finished epoch (train and val loss/accuracy,
 * learning rate, timing), the best epoch, and its JSON and CSV forms (history.json,
 * history.csv). Plain data and pure functions; histories are never mutated in place.
 *
 * Conventions: epochs are numbered from 1 and strictly increase (a resumed run appends);
 * accuracies are fractions in [0, 1]; `lr` is the rate used during that epoch's train phase;
 * `seconds` is the epoch's wall time (train + val); `images_per_s` is the train phase's throughput.
 */
import { z } from 'zod';
import { csvRow } from '../csv-row.js';
import { TrainingError } from '../errors.js';
import { describeZodIssues, parseOrThrow } from '../zod-issues.js';

const finite = z.number().refine(Number.isFinite, { message: 'expected a finite number' });
const fraction = z.number().min(0).max(1);

export const EpochRecordSchema = z
  .object({
    epoch: z.number().int().min(1),
    train_loss: finite,
    train_acc: fraction,
    val_loss: finite,
    val_acc: fraction,
    lr: finite.refine((v) => v >= 0, { message: 'expected lr >= 0' }),
    seconds: finite.refine((v) => v >= 0, { message: 'expected seconds >= 0' }),
    images_per_s: finite.refine((v) => v >= 0, { message: 'expected images_per_s >= 0' }),
    /** The lr of each parameter group at the epoch's start, by group name, when there are several (discriminative rates). */
    lrs: z.record(z.string(), finite).optional(),
  })
  .strict();
export type EpochRecord = z.infer<typeof EpochRecordSchema>;

/** Column order of history.csv and of the JSON records. */
const EPOCH_FIELDS = ['epoch', 'train_loss', 'train_acc', 'val_loss', 'val_acc', 'lr', 'seconds', 'images_per_s'] as const satisfies readonly (keyof EpochRecord)[];

export interface History {
  /** Optional label for plots and reports, e.g. "fine-tuning". */
  name?: string;
  epochs: EpochRecord[];
}

const HISTORY_FORMAT = 'headstart-history';
const HISTORY_VERSION = 1;

const HistoryFileSchema = z
  .object({
    format: z.literal(HISTORY_FORMAT),
    version: z.literal(HISTORY_VERSION),
    name: z.string().optional(),
    epochs: z.array(EpochRecordSchema),
    // Derived fields, written for readers' convenience and checked on load.
    best_epoch: z.number().int().min(1).nullable(),
    best_val_acc: fraction.nullable(),
    total_seconds: z.number().min(0),
  })
  .strict();
export type HistoryFile = z.infer<typeof HistoryFileSchema>;

const CreateOptionsSchema = z.object({ name: z.string().min(1).optional() }).strict();
export type CreateHistoryOptions = z.input<typeof CreateOptionsSchema>;

function checkOrder(epochs: readonly EpochRecord[], where: string, hint: string): void {
  for (let i = 1; i < epochs.length; i++) {
    if (epochs[i].epoch <= epochs[i - 1].epoch) {
      throw new TrainingError('E_BAD_HISTORY', `${where}: epochs must strictly increase, found epoch ${epochs[i].epoch} after epoch ${epochs[i - 1].epoch}`, { hint });
    }
  }
}

/** An empty history. */
export function createHistory(options?: CreateHistoryOptions): History {
  const { name } = parseOrThrow(CreateOptionsSchema, options ?? {}, 'createHistory: invalid options');
  return name === undefined ? { epochs: [] } : { name, epochs: [] };
}

/** A new history with `record` appended; the record is validated and must follow the last epoch. */
export function appendEpoch(history: History, record: EpochRecord): History {
  const r = EpochRecordSchema.safeParse(record);
  if (!r.success) {
    throw new TrainingError('E_BAD_HISTORY', `appendEpoch: invalid epoch record: ${describeZodIssues(r.error)}`, {
      hint: 'a non-finite loss should stop the run before it is recorded',
    });
  }
  const last = history.epochs[history.epochs.length - 1];
  if (last && r.data.epoch <= last.epoch) {
    throw new TrainingError('E_BAD_HISTORY', `appendEpoch: epoch ${r.data.epoch} does not follow the last recorded epoch ${last.epoch}`, {
      hint: "a resumed run must continue from the checkpoint's epoch",
    });
  }
  return { ...history, epochs: [...history.epochs, r.data] };
}

/**
 * The epoch with the highest val accuracy; the earliest on ties, as the reference
 * train_model keeps the first weights that reach a new best (`>`). Undefined when empty.
 */
export function bestEpoch(history: History): EpochRecord | undefined {
  let best: EpochRecord | undefined;
  for (const e of history.epochs) if (!best || e.val_acc > best.val_acc) best = e;
  return best;
}

/** Sum of the epochs' wall times. */
export function totalSeconds(history: History): number {
  return history.epochs.reduce((s, e) => s + e.seconds, 0);
}

/** The history.json payload (with derived best epoch and total time). */
function historyToFile(history: History): HistoryFile {
  const best = bestEpoch(history);
  return {
    format: HISTORY_FORMAT,
    version: HISTORY_VERSION,
    ...(history.name === undefined ? {} : { name: history.name }),
    epochs: history.epochs.map((e) => ({ ...e })),
    best_epoch: best ? best.epoch : null,
    best_val_acc: best ? best.val_acc : null,
    total_seconds: totalSeconds(history),
  };
}

export function historyToJson(history: History): string {
  return JSON.stringify(historyToFile(history), null, 2) + '\n';
}

/**
 * Parses history.json. `source` names the file in error messages. Throws TrainingError when
 * the text is not JSON, does not match the schema, or its derived fields disagree with its epochs.
 */
export function historyFromJson(text: string, source = 'history.json'): History {
  const hint = 'the file is not a headstart history; re-run training or restore it from the run folder';
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new TrainingError('E_BAD_HISTORY', `${source}: not valid JSON (${(cause as Error).message})`, { hint, cause });
  }
  const r = HistoryFileSchema.safeParse(raw);
  if (!r.success) throw new TrainingError('E_BAD_HISTORY', `${source}: invalid history: ${describeZodIssues(r.error)}`, { hint });
  const file = r.data;
  checkOrder(file.epochs, source, hint);
  const history: History = file.name === undefined ? { epochs: file.epochs } : { name: file.name, epochs: file.epochs };
  const best = bestEpoch(history);
  if ((best?.epoch ?? null) !== file.best_epoch || (best?.val_acc ?? null) !== file.best_val_acc) {
    throw new TrainingError(
      'E_BAD_HISTORY',
      `${source}: best_epoch ${file.best_epoch} / best_val_acc ${file.best_val_acc} disagree with the epochs (expected ${best?.epoch ?? null} / ${best?.val_acc ?? null})`,
      { hint },
    );
  }
  return history;
}

/**
 * history.csv: a header of EPOCH_FIELDS, then one row per epoch (numbers as JSON writes them);
 * with per-group learning rates, one more column per group (`lr_<group>`, empty where an
 * epoch had no such group).
 */
export function historyToCsv(history: History): string {
  const groups = [...new Set(history.epochs.flatMap((e) => Object.keys(e.lrs ?? {})))];
  const lines = [csvRow([...EPOCH_FIELDS, ...groups.map((g) => `lr_${g}`)])];
  for (const e of history.epochs) lines.push(csvRow([...EPOCH_FIELDS.map((f) => String(e[f])), ...groups.map((g) => (e.lrs?.[g] === undefined ? '' : String(e.lrs[g])))]));
  return lines.join('\n') + '\n';
}
