// ESLint flat config: typescript-eslint's type-aware recommended rules, tuned for this code base.
// Every rule turned off or loosened below says why. Formatting is Prettier's job (.prettierrc.json),
// the import layering is dependency-cruiser's (.dependency-cruiser.cjs), unused files/exports are knip's.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['node_modules/', 'dist/', 'coverage/', 'assets/', 'test/.fixtures/', 'bench/out/', 'runs/', '.cache/', 'tmp/'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: {
      // src/, test/, bench/ and scripts/*.ts, with Node's types (tsconfig.json itself covers src/ only).
      parserOptions: { project: './tsconfig.lint.json', tsconfigRootDir: import.meta.dirname },
      globals: globals.node,
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Kept on, with the options this code base needs:
      // node:test's test()/describe()/it() return promises the runner awaits itself; everything else must be awaited or voided.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      // A leading underscore marks a parameter an interface requires but this implementation ignores, and `const { type: _, ...rest }` drops a key.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Shapes are number[] and are printed as `1,3,224,224` in messages on purpose; objects in templates ("[object Object]") are still errors.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowArray: true, allowNumber: true, allowBoolean: true, allowNullish: true, allowRegExp: true, allowAny: false }],
      // `import type` keeps type-only edges visible to readers and to dependency-cruiser; the separate form is the majority style here.
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/consistent-type-exports': 'error',
      '@typescript-eslint/no-import-type-side-effects': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],

      // Turned off:
      // An async function without `await` is how this code implements an interface method that returns a Promise
      // (runners, fetch stubs, listeners) and turns a synchronous throw into a rejection; flagging it is noise.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests and benchmarks read JSON the CLI printed (JSON.parse returns `any`) and assert on its fields; typing every
    // parsed event would add casts, not safety. src/ keeps the no-unsafe-* rules on: there `any` must be narrowed.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // The tool configs themselves (eslint.config.js, .dependency-cruiser.cjs): plain JavaScript outside the TS project.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The web app's browser modules (src/serve/web/, served as is, no build): browser globals, no type information.
    files: ['src/serve/web/**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
  },
);
