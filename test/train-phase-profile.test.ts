/**
 * HEADSTART_PROFILE_PHASES=1 (src/train/phase-profile.ts): `profiled` returns what the step returns and,
 * only with the variable set, writes one line with the label, wall and CPU milliseconds to stderr.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { profiled } from '../src/train/phase-profile.js';

async function captureStderr<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  const write = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = (chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  };
  try {
    return { value: await fn(), text };
  } finally {
    process.stderr.write = write;
  }
}

test('profiled: one line per call with HEADSTART_PROFILE_PHASES=1, silent without; the value passes through', async () => {
  const busy = () => {
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
    return x;
  };
  delete process.env.HEADSTART_PROFILE_PHASES;
  const quiet = await captureStderr(() => profiled('step', busy));
  assert.equal(quiet.text, '');
  process.env.HEADSTART_PROFILE_PHASES = '1';
  try {
    const loud = await captureStderr(() => profiled('native plan, batch 8', async () => busy()));
    assert.equal(loud.value, quiet.value);
    assert.match(loud.text, /^\[profile\] native plan, batch 8: wall \d+ ms, cpu \d+ ms\n$/);
    await assert.rejects(
      captureStderr(() =>
        profiled('fails', () => {
          throw new Error('boom');
        }),
      ),
      /boom/,
    );
  } finally {
    delete process.env.HEADSTART_PROFILE_PHASES;
  }
});
