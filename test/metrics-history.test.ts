import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendEpoch, bestEpoch, createHistory, historyFromJson, historyToCsv, historyToJson, totalSeconds, type EpochRecord } from '../src/metrics/history.js';
import { TrainingError } from '../src/errors.js';

function rec(epoch: number, val_acc: number, extra: Partial<EpochRecord> = {}): EpochRecord {
  return {
    epoch,
    train_loss: 1 / epoch,
    train_acc: 0.5 + epoch / 100,
    val_loss: 0.9 / epoch,
    val_acc,
    lr: 0.001,
    seconds: 2.5,
    images_per_s: 40,
    ...extra,
  };
}

test('appendEpoch builds a history without mutating the old one', () => {
  const h0 = createHistory({ name: 'fine-tuning' });
  const h1 = appendEpoch(h0, rec(1, 0.6));
  const h2 = appendEpoch(h1, rec(2, 0.7));
  assert.equal(h0.epochs.length, 0);
  assert.equal(h1.epochs.length, 1);
  assert.equal(h2.epochs.length, 2);
  assert.equal(h2.name, 'fine-tuning');
  assert.equal(totalSeconds(h2), 5);
});

test('appendEpoch rejects out-of-order and invalid records', () => {
  const h = appendEpoch(createHistory(), rec(3, 0.5));
  assert.throws(
    () => appendEpoch(h, rec(3, 0.5)),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /epoch 3 does not follow/.test(e.message),
  );
  assert.throws(
    () => appendEpoch(h, rec(4, 0.5, { train_loss: NaN })),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /train_loss/.test(e.message),
  );
  assert.throws(
    () => appendEpoch(h, rec(4, 1.5)),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /val_acc/.test(e.message),
  );
  assert.throws(() => appendEpoch(h, { ...rec(4, 0.5), extra: 1 } as EpochRecord), { name: 'TrainingError', code: 'E_BAD_HISTORY' });
  assert.throws(() => appendEpoch(h, rec(0, 0.5)), { name: 'TrainingError', code: 'E_BAD_HISTORY' });
  assert.throws(() => createHistory({ title: 'x' } as never), { name: 'ConfigError', code: 'E_BAD_OPTION' });
});

test('bestEpoch is the highest val_acc, earliest on ties', () => {
  let h = createHistory();
  assert.equal(bestEpoch(h), undefined);
  for (const [e, a] of [
    [1, 0.5],
    [2, 0.8],
    [3, 0.7],
    [4, 0.8],
  ] as const)
    h = appendEpoch(h, rec(e, a));
  assert.equal(bestEpoch(h)?.epoch, 2);
});

test('JSON round-trip with derived fields; corrupt files are named errors', () => {
  let h = createHistory({ name: 'features' });
  h = appendEpoch(h, rec(1, 0.55, { lr: 1e-4, seconds: 1.25 }));
  h = appendEpoch(h, rec(2, 0.9));
  const text = historyToJson(h);
  const raw = JSON.parse(text);
  assert.equal(raw.format, 'headstart-history');
  assert.equal(raw.best_epoch, 2);
  assert.equal(raw.best_val_acc, 0.9);
  assert.equal(raw.total_seconds, 3.75);
  assert.deepEqual(historyFromJson(text), h);

  assert.throws(
    () => historyFromJson('{', 'run/history.json'),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /run\/history.json: not valid JSON/.test(e.message),
  );
  assert.throws(
    () => historyFromJson(JSON.stringify({ ...raw, best_epoch: 1 })),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /disagree/.test(e.message),
  );
  assert.throws(
    () => historyFromJson(JSON.stringify({ ...raw, version: 2 })),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /version/.test(e.message),
  );
  const swapped = { ...raw, epochs: [raw.epochs[1], raw.epochs[0]] };
  assert.throws(
    () => historyFromJson(JSON.stringify(swapped)),
    (e: unknown) => e instanceof TrainingError && e.code === 'E_BAD_HISTORY' && /strictly increase/.test(e.message),
  );
  // empty history round-trips too
  assert.deepEqual(historyFromJson(historyToJson(createHistory())), { epochs: [] });
});

test('CSV has a header and one row per epoch', () => {
  let h = appendEpoch(createHistory(), rec(1, 0.5, { lr: 1e-4 }));
  h = appendEpoch(h, rec(2, 0.75));
  const lines = historyToCsv(h).trimEnd().split('\n');
  assert.equal(lines[0], 'epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,images_per_s');
  assert.equal(lines.length, 3);
  assert.equal(lines[1], '1,1,0.51,0.9,0.5,0.0001,2.5,40');
  assert.equal(lines[2].split(',').length, 8);
});
