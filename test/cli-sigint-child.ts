/** Child process of test/cli-sigint.test.ts: the headstart CLI with the tiny test network registered. */
import { main } from '../src/cli/main.js';
import { registerModel } from '../src/models/registry.js';
import { tinySpec } from './train-fixtures.js';

registerModel(tinySpec);
process.exitCode = await main(process.argv.slice(2));
