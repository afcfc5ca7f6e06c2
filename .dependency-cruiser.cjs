// dependency-cruiser: the layer rule and no import cycles (type-only imports included).
// Run: npx depcruise src   (part of `npm run lint`). CONTRIBUTING.md describes the layers.
//
// Layers, top to bottom; a folder imports only from its own layer or the layers below:
//   5 cli                                                   src/cli
//   4 applications                                          src/infer src/train src/report src/serve
//   3 domain                                                src/graphs src/models src/data src/optim src/metrics src/weights
//   2 runtime                                               src/onnx src/engine
//   1 base (one file per concept, in src/ itself)           src/errors.ts src/tensor.ts src/random.ts src/version.ts ...
// src/index.ts is the public entry and may import anything; nothing in src/ imports it.
// Imports inside one layer are allowed, but folders must not form cycles (rule no-folder-cycles).
// To see which files make a folder cycle, e.g. models ⇄ weights:
//   npx depcruise src --output-type text --include-only '^src/(models|weights)/' | grep -E 'models/.* → src/weights|weights/.* → src/models'

/** Each layer's folders, as a regular-expression alternation. */
const L5 = 'cli';
const L4 = 'infer|train|report|serve';
const L3 = 'graphs|models|data|optim|metrics|weights';
const L2 = 'onnx|engine';
/** A file in one of the given top-level folders of src/. */
const inFolders = (alternation) => `^src/(${alternation})/`;

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module imports itself through a chain of imports (type-only imports count: they couple the modules just the same).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      severity: 'error',
      scope: 'folder',
      comment: 'Two folders of src/ import from each other (directly or through other folders); move the shared concept down a layer.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'layer-base',
      severity: 'error',
      comment: 'The base files in src/ (errors, tensor, random, version, ...) import nothing from the folders of src/.',
      from: { path: '^src/[^/]+\\.ts$', pathNot: '^src/index\\.ts$' },
      to: { path: '^src/[^/]+/' },
    },
    {
      name: 'layer-runtime',
      severity: 'error',
      comment: 'onnx/ and engine/ (layer 2) import only from each other and the base files.',
      from: { path: inFolders(L2) },
      to: { path: inFolders(`${L3}|${L4}|${L5}`) },
    },
    {
      name: 'layer-domain',
      severity: 'error',
      comment: 'graphs/, models/, data/, optim/, metrics/, weights/ (layer 3) do not import the applications or the CLI.',
      from: { path: inFolders(L3) },
      to: { path: inFolders(`${L4}|${L5}`) },
    },
    {
      name: 'layer-applications',
      severity: 'error',
      comment: 'infer/, train/, report/, serve/ (layer 4) do not import the CLI.',
      from: { path: inFolders(L4) },
      to: { path: inFolders(L5) },
    },
    {
      name: 'no-import-of-public-entry',
      severity: 'error',
      comment: 'src/index.ts is the public entry only; inside src/ import the module that defines the thing.',
      from: { path: '^src/' },
      to: { path: '^src/index\\.ts$' },
    },
    {
      name: 'src-not-to-tests-or-tools',
      severity: 'error',
      comment: 'The library does not import tests, benchmarks or scripts.',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'src-not-to-dev-deps',
      severity: 'error',
      comment: 'The published package must not import a devDependency (it is not installed for users).',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve to a file or an installed package.',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      severity: 'error',
      comment: 'A package imported without being in package.json (it works only by accident of hoisting).',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|assets|test/\\.fixtures)/' },
    // Type-only imports are real edges for the cycle and layer rules.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.lint.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
