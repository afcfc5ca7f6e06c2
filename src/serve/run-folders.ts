/**
 * The run folders under the served runs directory: each subfolder with a history.json (a
 * finished run) or an events.jsonl (a run under way, or one that stopped), summarised from
 * its config.json, history.json and events.jsonl.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EVENTS_FILE } from '../train/listeners/events-file.js';
import { appendEpoch, bestEpoch, createHistory, historyFromJson, totalSeconds, type History } from '../metrics/history.js';
import { EpochRecordSchema } from '../metrics/history.js';
import { wilsonInterval } from '../metrics/classification.js';

export interface RunSummary {
  name: string;
  model: string | null;
  mode: string | null;
  status: 'finished' | 'running' | 'stopped' | 'incomplete';
  epochs: number;
  epochsPlanned: number | null;
  bestValAcc: number | null;
  bestEpoch: number | null;
  /** 95% Wilson interval of the best val accuracy, when the number of val images is known. */
  interval: [number, number] | null;
  valImages: number | null;
  classes: string[];
  seconds: number | null;
  /** ISO time the folder was last changed. */
  modified: string;
  files: string[];
}

/** A run name is one folder name: no separators, no dot-dot. */
export function isRunName(name: string): boolean {
  return /^[^/\\\0]+$/.test(name) && name !== '.' && name !== '..';
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** The events of an events.jsonl (unparseable lines, such as a half-written last one, are left out). */
export function parseEvents(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object') out.push(v as Record<string, unknown>);
    } catch {
      // a line still being written
    }
  }
  return out;
}

/** The history the epoch events of an events.jsonl describe. */
function historyFromEvents(events: readonly Record<string, unknown>[]): History {
  let h = createHistory();
  for (const e of events) {
    if (e.event !== 'epoch') continue;
    const r = EpochRecordSchema.safeParse(Object.fromEntries(Object.entries(e).filter(([k]) => k in EpochRecordSchema.shape)));
    if (r.success && !h.epochs.some((x) => x.epoch >= r.data.epoch)) h = appendEpoch(h, r.data);
  }
  return h;
}

async function readRunEvents(dir: string): Promise<Record<string, unknown>[]> {
  const path = join(dir, EVENTS_FILE);
  return existsSync(path) ? parseEvents(await readFile(path, 'utf8')) : [];
}

/** The run's history: history.json when written, else the epochs of events.jsonl. */
export async function runHistory(dir: string): Promise<History> {
  try {
    return historyFromJson(await readFile(join(dir, 'history.json'), 'utf8'));
  } catch {
    return historyFromEvents(await readRunEvents(dir));
  }
}

export async function summariseRun(runsDir: string, name: string, running: boolean): Promise<RunSummary> {
  const dir = join(runsDir, name);
  const files = (await readdir(dir)).sort();
  const config = (await readJson(join(dir, 'config.json'))) as Record<string, unknown> | undefined;
  const classes = await readJson(join(dir, 'classes.json'));
  const events = await readRunEvents(dir);
  const history = await runHistory(dir);
  const start = events.find((e) => e.event === 'run_start');
  const last = events.at(-1)?.event;
  const done = events.find((e) => e.event === 'done');
  const best = bestEpoch(history);
  // A run without events.jsonl (older runs, runs copied without it) has the count in config.json.
  const configData = config?.data as Record<string, unknown> | undefined;
  const valImages = typeof start?.val_images === 'number' ? start.val_images : typeof configData?.val_images === 'number' ? configData.val_images : null;
  let interval: [number, number] | null = null;
  if (best && valImages) {
    const w = wilsonInterval(Math.round(best.val_acc * valImages), valImages);
    interval = [w.lower, w.upper];
  }
  // A run of another process (the CLI) counts as running while its events.jsonl changed in the last minute.
  const eventsAge = files.includes(EVENTS_FILE) ? Date.now() - (await stat(join(dir, EVENTS_FILE))).mtimeMs : Infinity;
  const status: RunSummary['status'] = files.includes('model.onnx') ? 'finished' : last === 'interrupted' ? 'stopped' : running || (last !== 'done' && eventsAge < 60_000) ? 'running' : 'incomplete';
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    name,
    model: str(config?.model) ?? str(start?.model),
    mode: str(config?.mode) ?? str(start?.mode),
    status,
    epochs: history.epochs.length,
    epochsPlanned: typeof start?.epochs === 'number' ? start.epochs : typeof config?.epochs === 'number' ? config.epochs : null,
    bestValAcc: best?.val_acc ?? null,
    bestEpoch: best?.epoch ?? null,
    interval,
    valImages,
    classes: Array.isArray(classes) ? classes.filter((c): c is string => typeof c === 'string') : Array.isArray(start?.classes) ? (start.classes as string[]) : [],
    // The whole run's wall time (feature extraction included) when it finished; else the epochs' sum so far.
    seconds: typeof done?.seconds === 'number' ? done.seconds : history.epochs.length ? totalSeconds(history) : null,
    modified: (await stat(dir)).mtime.toISOString(),
    files,
  };
}

/** Every run folder under `runsDir`, newest first. */
export async function listRuns(runsDir: string, running: (name: string) => boolean): Promise<RunSummary[]> {
  if (!existsSync(runsDir)) return [];
  const entries = await readdir(runsDir, { withFileTypes: true });
  const out: RunSummary[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const dir = join(runsDir, e.name);
    if (!existsSync(join(dir, 'history.json')) && !existsSync(join(dir, EVENTS_FILE))) continue;
    out.push(await summariseRun(runsDir, e.name, running(e.name)));
  }
  return out.sort((a, b) => b.modified.localeCompare(a.modified));
}
