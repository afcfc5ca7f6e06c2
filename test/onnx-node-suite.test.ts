import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { HeadstartError } from '../src/errors.js';
import { importGraph } from '../src/onnx/import-graph.js';
import type { Verdict } from './onnx-node-suite.js';
import { EXCLUDED, NODE_SUITE_DIR, isRuntimeShapeInput, knownOps, listSuite, runSuiteTest, withConstantInputs } from './onnx-node-suite.js';

/**
 * The official ONNX backend node tests (Debian's libonnx-testdata) through headstart's ONNX
 * layer. Every test is classified: pass, refused (a specific code naming op, node and reason)
 * or wrong (a shape or value that differs, or an unclear error). Wrong must be 0.
 */

/** The refusals that are reasonable for an image-training library, by reason. */
const REASONABLE: Record<string, RegExp> = {
  'shape-determining input fed at run time': /computed at run time, but headstart needs shape-determining inputs as constants/,
  'element type headstart graphs do not hold (float16, bfloat16, string, int8, uint32, uint64)': /(has element type|a cast to) (float16|bfloat16|string|int8|uint16|int16|uint32|uint64)/,
  'sequence or optional value (not a tensor)': /is (a sequence|an optional); headstart's graphs hold tensors only/,
};

const MIN_PASS = 260;

test(
  'ONNX conformance: the official node tests through importGraph -> serializeModel -> ONNX Runtime',
  { skip: existsSync(NODE_SUITE_DIR) ? false : `${NODE_SUITE_DIR} is missing: apt-get install libonnx-testdata` },
  async () => {
    const suite = listSuite();
    const excluded = suite.filter((t) => EXCLUDED[t.name]);
    const inScope = suite.filter((t) => !EXCLUDED[t.name] && knownOps(t));
    const otherOps = suite.filter((t) => !EXCLUDED[t.name] && !knownOps(t));
    assert.equal(excluded.length, Object.keys(EXCLUDED).length, 'every excluded test exists in the suite');

    const verdicts = new Map<string, Verdict>();
    for (const t of inScope) verdicts.set(t.name, await runSuiteTest(t));
    const of = (kind: Verdict['kind']) => [...verdicts].filter(([, v]) => v.kind === kind);
    const pass = of('pass');
    const refused = of('refused') as [string, Extract<Verdict, { kind: 'refused' }>][];
    const wrong = [...of('wrong'), ...of('unclear')];

    // Refused for a run-time shape input: the same test with those inputs as constants must pass.
    const constantVariants: string[] = [];
    for (const [name, v] of refused) {
      if (!isRuntimeShapeInput(v)) continue;
      const t = inScope.find((x) => x.name === name)!;
      const bytes = withConstantInputs(t);
      assert.ok(bytes, `${name}: no integer inputs to bake in`);
      const again = await runSuiteTest(t, bytes);
      if (again.kind !== 'pass') wrong.push([`${name} (inputs as constants)`, again]);
      else constantVariants.push(name);
    }

    // Tests with ops headstart does not register: the importer must refuse them clearly.
    const unclearOther: string[] = [];
    for (const t of otherOps) {
      try {
        importGraph(readFileSync(path.join(t.dir, 'model.onnx')));
        unclearOther.push(`${t.name}: imported although it uses ${t.ops.join(', ')}`);
      } catch (err) {
        const clear = err instanceof HeadstartError && err.code === 'E_UNSUPPORTED_OP' && /node `/.test(err.message) && t.ops.some((op) => err.message.includes(op));
        if (!clear) unclearOther.push(`${t.name}: ${(err as Error).message}`);
      }
    }

    const byReason = new Map<string, string[]>();
    const unreasonable: string[] = [];
    for (const [name, v] of refused) {
      const reason = Object.keys(REASONABLE).find((r) => REASONABLE[r].test(v.message));
      if (!reason) unreasonable.push(`${name}: ${v.code} ${v.message}`);
      else byReason.set(reason, [...(byReason.get(reason) ?? []), name]);
    }

    const lines = [
      `ONNX node suite (${NODE_SUITE_DIR}): ${suite.length} tests`,
      `  excluded by name: ${excluded.length}`,
      ...excluded.map((t) => `    ${t.name}: ${EXCLUDED[t.name]}`),
      `  with ops headstart does not register: ${otherOps.length} (each refused by the importer with E_UNSUPPORTED_OP naming the op and node)`,
      `  with known ops: ${inScope.length}: pass ${pass.length}, refused ${refused.length}, wrong ${wrong.length}`,
      ...[...byReason].flatMap(([reason, names]) => [
        `    refused, ${reason}: ${names.length}`,
        ...names.map((n) => `      ${n}: ${refused.find(([x]) => x === n)![1].code} ${refused.find(([x]) => x === n)![1].message}`),
      ]),
      `  refused for a run-time shape input but passing with those inputs as constants: ${constantVariants.length}`,
      ...wrong.map(([n, v]) => `    WRONG ${n}: ${'message' in v ? v.message : ''}`),
      ...unreasonable.map((s) => `    UNREASONABLE REFUSAL ${s}`),
      ...unclearOther.map((s) => `    UNCLEAR REFUSAL ${s}`),
    ];
    console.log(lines.join('\n'));

    assert.deepEqual(
      wrong.map(([n, v]) => `${n}: ${'message' in v ? v.message : ''}`),
      [],
      'no test may be wrong',
    );
    assert.deepEqual(unreasonable, [], 'every refusal must be one of the reasonable kinds');
    assert.deepEqual(unclearOther, [], 'tests with unregistered ops must be refused with E_UNSUPPORTED_OP naming op and node');
    assert.ok(pass.length >= MIN_PASS, `at least ${MIN_PASS} tests with known ops pass, found ${pass.length}`);
  },
);
