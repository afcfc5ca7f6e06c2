import assert from 'node:assert/strict';
import { test } from 'node:test';
import '../src/onnx/ops/index.js';
import { listOps } from '../src/onnx/op-registry.js';
import { gradCheck } from './gradcheck.js';

// Loops over the op registry: a new gradient rule is covered as soon as it is registered.
for (const op of listOps().filter((o) => o.grad)) {
  test(`${op.type} has finite-difference cases`, () => {
    assert.ok((op.gradCases ?? []).length > 0, `${op.type} has a gradient rule but no gradCases`);
  });
  for (const c of op.gradCases ?? []) {
    test(`gradient of ${op.type}: ${c.label}`, async () => {
      const r = await gradCheck(c);
      const tol = (c.tolerance ?? 2e-2) * Math.max(r.maxGrad, 1e-3);
      assert.ok(r.maxGrad > 0, 'the check must see a non-zero gradient');
      assert.ok(r.maxError <= tol, `max error ${r.maxError.toExponential(2)} > ${tol.toExponential(2)}; worst ${r.worst}`);
    });
  }
}
