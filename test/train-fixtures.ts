/**
 * Fixtures for the trainer's tests: a tiny network at 16x16 input (test/small-cnn.ts with an
 * eval transform that keeps the whole image) and small generated image-folder datasets whose
 * class is the dominant colour of noisy images, so a few epochs learn them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseTrainOptions, resolveTrainConfig } from '../src/train/options.js';
import type { ModelSpec } from '../src/models/model-spec.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, type CheckpointState } from '../src/train/checkpoint.js';
import { Random } from '../src/random.js';
import { smallCnn } from './small-cnn.js';

export const tinySpec: ModelSpec = {
  ...smallCnn,
  name: 'tiny_cnn',
  preprocess: { inputSize: 16, resizeSize: 16, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], interpolation: 'bilinear' },
};

/** A tiny spec whose head has dropout (exercises the host-fed dropout mask). */
export const tinySpecDropout: ModelSpec = { ...tinySpec, name: 'tiny_cnn_dropout', head: { name: 'fc', dropout: 0.2 } };

export const COLOURS = ['blue', 'green', 'red'] as const;

async function image(rng: Random, cls: number, size: number): Promise<Buffer> {
  const data = Buffer.alloc(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    for (let c = 0; c < 3; c++) {
      const base = c === 2 - cls ? 170 : 70;
      data[i * 3 + c] = Math.max(0, Math.min(255, Math.round(base + rng.normal() * 40)));
    }
  }
  return sharp(data, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

export interface FixtureOptions {
  train?: number;
  val?: number;
  size?: number;
  seed?: number;
}

/** root/train/<colour>/*.png and root/val/<colour>/*.png; returns the root. */
export async function makeColourDataset(options: FixtureOptions = {}): Promise<string> {
  const { train = 12, val = 4, size = 20, seed = 1 } = options;
  const root = await mkdtemp(join(os.tmpdir(), 'headstart-train-'));
  const rng = new Random(seed);
  for (const [split, n] of [
    ['train', train],
    ['val', val],
  ] as const) {
    for (let c = 0; c < COLOURS.length; c++) {
      const dir = join(root, split, COLOURS[c]);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(dir, `${split}-${i}.png`), await image(rng, c, size));
    }
  }
  return root;
}

export async function tempDir(prefix = 'headstart-out-'): Promise<string> {
  return mkdtemp(join(os.tmpdir(), prefix));
}

/** A checkpoint whose tensors all hold `epoch` (a torn write would mix values). */
export function makeCheckpointState(epoch: number, size: number): CheckpointState {
  const w = new Float32Array(size).fill(epoch);
  return {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    epoch,
    config: resolveTrainConfig(parseTrainOptions({ weights: 'none' }), 'finetune', 'tiny', 'none'),
    classes: ['a', 'b'],
    params: new Map([['w', { dtype: 'float32', shape: [size], data: w }]]),
    optimizer: { type: 'sgd', groups: [{ params: ['w'], lr: 0.1 }], state: { w: { momentumBuffer: w.slice() } } },
    scheduler: { type: 'step', t: epoch, baseLrs: [0.1] },
    rng: [0, epoch],
    history: { epochs: [] },
    best: { epoch, valAcc: 0.5, params: new Map([['w', { dtype: 'float32', shape: [size], data: w.slice() }]]) },
  };
}

/** Grey noisy images: of none of the colour classes. */
export async function greyImages(dir: string, n: number, seed: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const rng = new Random(seed);
  for (let i = 0; i < n; i++) {
    const data = Buffer.alloc(20 * 20 * 3);
    const base = 90 + rng.next() * 60;
    for (let p = 0; p < 20 * 20; p++) {
      const v = base + rng.normal() * 40;
      for (let c = 0; c < 3; c++) data[p * 3 + c] = Math.max(0, Math.min(255, Math.round(v + rng.normal() * 10)));
    }
    await sharp(data, { raw: { width: 20, height: 20, channels: 3 } })
      .png()
      .toFile(join(dir, `grey-${i}.png`));
  }
}
