import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { buildTrainingGraph } from '../src/graphs/network-graph.js';
import { TrainingSession } from '../src/graphs/training-session.js';
import { initParams } from '../src/models/init-params.js';
import { crossEntropyCoefficients } from '../src/onnx/cross-entropy.js';
import { Random } from '../src/random.js';
import { smallCnn } from './small-cnn.js';

/**
 * A training session holds one step's activations, not two: with ONNX Runtime's memory-pattern
 * planner on, the second run allocated the whole recorded pattern as a new block while the arena
 * still held the first run's chunks (ResNet18 b16 peaked at 1670 MB RSS instead of 1079 MB), so
 * TrainingSession turns it off (src/graphs/training-session.ts). Measured with Linux's peak-RSS
 * counter, reset through /proc/self/clear_refs before each phase. With `memPattern: true` the
 * later steps' peak growth here was about as large as the first step's.
 */
const clearRefs = '/proc/self/clear_refs';
const canReset = (() => {
  try {
    fs.writeFileSync(clearRefs, '5');
    return true;
  } catch {
    return false;
  }
})();

/** [current RSS, peak RSS since the last reset] in bytes, from /proc/self/status. */
function rss(): [number, number] {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return [kb('VmRSS'), kb('VmHWM')];
}

test(
  'a training session does not hold a second copy of its activations after the first step',
  { skip: canReset ? false : 'needs Linux /proc/self/clear_refs to reset the peak-RSS counter' },
  async () => {
    const batch = 8;
    const size = 192;
    const graph = buildTrainingGraph(smallCnn, { batch, numClasses: 4, inputSize: size, trainable: () => true });
    const params = initParams(graph.params, 0);
    const session = await TrainingSession.create(graph, params, { threads: 1 });
    const rng = new Random(3);
    const images = Float32Array.from({ length: batch * 3 * size * size }, () => rng.normal());
    const targets = crossEntropyCoefficients([0, 1, 2, 3, 0, 1, 2, 3], 4);
    const growth = async (steps: number): Promise<number> => {
      fs.writeFileSync(clearRefs, '5');
      const [before] = rss();
      for (let i = 0; i < steps; i++) await session.step(images, targets);
      return rss()[1] - before;
    };
    const first = await growth(1);
    const later = await growth(2);
    await session.release();
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    // 8 channels at 192x192, batch 8: ~9.4 MiB per activation, several kept for the backward pass.
    assert.ok(first > 30 * 2 ** 20, `the first step should allocate its activations; peak grew by ${mb(first)}`);
    assert.ok(later < 0.25 * first, `steps 2-3 raised the peak by ${mb(later)}, the first step by ${mb(first)}`);
  },
);
