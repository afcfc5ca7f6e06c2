// An addon built from older sources (another plan interface: op kinds, runPlan's arguments) is refused
// with a reason that says to rebuild it, so --engine auto falls back to ONNX Runtime instead of failing
// a run on an op kind the old addon does not know.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddonFile } from '../src/engine/native-conv.js';
import { nativePlanUnavailable, planAddonProblem } from '../src/engine/native-plan.js';

const fn = () => undefined;

test('an addon without the plan interface version (built before it) is refused, saying to rebuild', () => {
  const why = planAddonProblem({ createPlan: fn }, '/x/headstart_dnnl.node');
  assert.match(why ?? '', /\/x\/headstart_dnnl\.node was built from other sources \(plan interface 1, this version needs \d+\): rebuild it: npm run build:native/);
});

test('an addon with another plan interface version is refused; one without createPlan predates the executor', () => {
  assert.match(planAddonProblem({ createPlan: fn, planAbi: 999 }, 'a.node') ?? '', /plan interface 999/);
  assert.match(planAddonProblem({}, 'a.node') ?? '', /predates the plan executor/);
});

test('the addon built from these sources speaks this version', { skip: nativeAddonFile() ? false : 'the native addon is not built (npm run build:native)' }, () => {
  assert.equal(nativePlanUnavailable({}), undefined);
});
