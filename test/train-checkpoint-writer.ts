/**
 * Child process of test/train-checkpoint.test.ts: writes 12 MB checkpoints atomically in a
 * loop until killed. They are encoded once, so nearly all its time is spent inside the write.
 * Every tensor of checkpoint `e` holds the value e, so a torn file would show mixed values.
 */
import { writeFileAtomic } from '../src/atomic-write.js';
import { encodeCheckpoint, type CheckpointState } from '../src/train/checkpoint.js';

const path = process.argv[2];
const [template] = JSON.parse(process.argv[3]) as [Omit<CheckpointState, 'params' | 'best'>];
const encoded = [1, 2, 3].map((epoch) => {
  const w = new Float32Array(1_000_000).fill(epoch);
  return encodeCheckpoint({ ...template, epoch, params: new Map([['w', { dtype: 'float32', shape: [w.length], data: w }]]), best: null });
});
process.stdout.write('writing\n');
for (let i = 0; ; i++) await writeFileAtomic(path, encoded[i % 3]);
