/**
 * The output folder of a new run. An existing run folder is never overwritten unless the
 * caller asks (`overwrite`, the CLI's --overwrite): a finished run's model and report, or an
 * interrupted run's checkpoint (which may hold hours of fine-tuning), would be lost to an
 * up-arrow-and-Enter. Without an explicit folder, each run gets a fresh timestamped one.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { CHECKPOINT_FILE } from './listeners/checkpoint-saver.js';

/** Files of an earlier run that would mislead if left beside a new one (a stale checkpoint would be resumed). */
const STALE_ON_OVERWRITE = [CHECKPOINT_FILE, 'best.safetensors'];

/** A word for the shell: quoted when it holds anything but safe characters. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function entriesOf(dir: string): string[] | null {
  try {
    return statSync(dir).isDirectory() ? readdirSync(dir) : null;
  } catch {
    return null; // missing (or unreadable: mkdir will say so)
  }
}

/**
 * Checks that `out` may receive a new run: missing or empty, or `overwrite` (then the previous
 * run's checkpoint is removed so it cannot be resumed by mistake). Throws E_OUTPUT_EXISTS
 * otherwise, saying what the folder holds and, for an interrupted run, the exact --resume command.
 */
export async function claimOutputFolder(out: string, o: { overwrite: boolean; dataRoot: string }): Promise<void> {
  const entries = entriesOf(out);
  if (!entries || entries.length === 0) return;
  if (o.overwrite) {
    for (const f of STALE_ON_OVERWRITE) await rm(join(out, f), { force: true });
    return;
  }
  const resume = `headstart train ${shellWord(o.dataRoot)} --resume ${shellWord(out)}`;
  const hasCheckpoint = existsSync(join(out, CHECKPOINT_FILE));
  if (entries.includes('model.onnx')) {
    throw new ConfigError('E_OUTPUT_EXISTS', `The output folder \`${out}\` already holds a finished run (model.onnx${hasCheckpoint ? `, ${CHECKPOINT_FILE}` : ''})`, {
      hint: `choose another --out, or pass --overwrite to replace it${hasCheckpoint ? `; to train it further: ${resume} --epochs N` : ''}`,
    });
  }
  if (hasCheckpoint) {
    throw new ConfigError('E_OUTPUT_EXISTS', `The output folder \`${out}\` holds the checkpoint of an interrupted run (${CHECKPOINT_FILE}); starting a new run there would replace it`, {
      hint: `continue it with: ${resume}; or choose another --out, or pass --overwrite to start over`,
    });
  }
  const shown = entries.slice(0, 5).join(', ') + (entries.length > 5 ? `, ... (${entries.length} entries)` : '');
  throw new ConfigError('E_OUTPUT_EXISTS', `The output folder \`${out}\` is not empty (it holds ${shown})`, {
    hint: 'choose a new or empty --out, or pass --overwrite to write the run there anyway',
  });
}

/** `base`, or `base-2`, `base-3`, ... : the first name no folder has yet (two runs started in the same second). */
export function freshFolder(base: string): string {
  let out = base;
  for (let i = 2; existsSync(out); i++) out = `${base}-${i}`;
  return out;
}
