/**
 * `--resume`: continuing an interrupted run from the checkpoint in its folder. The run keeps
 * its own settings (seed, split, transforms, weights, mode, optimiser and schedule; given again
 * with other values they are refused: src/train/resume-options.ts); only the number of epochs,
 * early stopping, the threads and the device may change.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTemps } from '../atomic-write.js';
import { ConfigError, TrainingError } from '../errors.js';
import { copyInto, readCheckpoint, type CheckpointState } from './checkpoint.js';
import type { FitState } from './fit.js';
import { CHECKPOINT_FILE } from './listeners/checkpoint-saver.js';
import type { ModeRunner } from './mode-runner.js';
import type { ParsedTrainOptions, ResolvedTrainConfig } from './options.js';
import { refuseChangedOnResume } from './resume-options.js';

export interface Resumed {
  dir: string;
  checkpoint: string;
  state: CheckpointState;
}

/** The checkpoint to resume, if the options ask for one, and the options with the run's own settings. */
export async function loadResume(o: ParsedTrainOptions, given: Readonly<Record<string, unknown>> = {}): Promise<{ options: ParsedTrainOptions; resumed?: Resumed }> {
  const dir = typeof o.resume === 'string' ? o.resume : o.resume ? o.out : undefined;
  if (o.resume && !dir) {
    throw new ConfigError('E_USAGE', '--resume needs the run folder to continue', { hint: 'pass --resume <run folder> (or --out <run folder> --resume)' });
  }
  if (!dir) return { options: o };
  const checkpoint = join(dir, CHECKPOINT_FILE);
  if (!existsSync(checkpoint)) {
    throw new TrainingError('E_NO_CHECKPOINT', `No checkpoint to resume in \`${dir}\` (expected ${CHECKPOINT_FILE})`, {
      hint: 'pass the output folder of an interrupted run; a run saves its checkpoint after each finished epoch',
    });
  }
  await removeStaleTemps(checkpoint);
  const state = await readCheckpoint(checkpoint);
  const c = state.config;
  refuseChangedOnResume(given, o, c, dir);
  const options: ParsedTrainOptions = {
    ...o,
    recipe: c.recipe,
    model: o.model ?? c.model,
    mode: c.mode,
    seed: c.seed,
    valSplit: c.valSplit,
    augment: c.augment,
    exactAugment: c.exactAugment,
    featureViews: c.featureViews,
    ...(c.inputSize !== null ? { inputSize: c.inputSize } : {}),
    ...(o.weights === undefined && c.weights !== null ? { weights: c.weights } : {}),
  };
  return { options, resumed: { dir, checkpoint, state } };
}

/** The resumed run's configuration: the checkpoint's, with the settings that may change. */
export function resumedConfig(r: Resumed, o: ParsedTrainOptions): ResolvedTrainConfig {
  const c = r.state.config;
  return { ...c, epochs: o.epochs ?? c.epochs, earlyStop: o.earlyStop ?? c.earlyStop, threads: o.threads ?? c.threads, device: o.device, engine: o.engine };
}

/** Checks that the checkpoint fits the model and data this run found. */
export function checkResumable(r: Resumed, model: string, classes: readonly string[]): void {
  if (r.state.config.model !== model) {
    throw new ConfigError('E_INCOMPATIBLE_INPUT', `The checkpoint in \`${r.dir}\` was trained with --model ${r.state.config.model}, not ${model}`, {
      hint: `resume with --model ${r.state.config.model}`,
    });
  }
  if (JSON.stringify(r.state.classes) !== JSON.stringify(classes)) {
    throw new ConfigError('E_INCOMPATIBLE_INPUT', `The dataset's classes (${classes.join(', ')}) differ from the checkpoint's (${r.state.classes.join(', ')})`, {
      hint: 'resume on the dataset the run was started with',
    });
  }
}

/** Puts the checkpoint's parameters, optimiser, schedule and history into the new run. */
export function restoreRun(r: Resumed, runner: ModeRunner, state: FitState): void {
  copyInto(runner.changing, r.state.params);
  runner.optimizer.loadStateDict(r.state.optimizer);
  runner.scheduler.loadStateDict(r.state.scheduler);
  state.epoch = r.state.epoch;
  state.history = r.state.history;
  state.best = r.state.best;
}
