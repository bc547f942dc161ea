// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.services/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // the dependency rule: the core is pure (no I/O, no node:*, no clock, no outer layers)
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'os', 'crypto', 'worker_threads', 'child_process'],
              message: 'the core is pure: no node:* imports',
            },
            {
              group: [
                '**/adapters/**',
                '**/services/**',
                '**/app/**',
                '**/cli/**',
                '**/config/**',
                '**/ports/**',
              ],
              message: 'the core imports nothing from the outer layers',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'the core reads no environment' },
        { name: 'Date', message: 'the core reads no clock: time is passed in' },
        { name: 'performance', message: 'the core reads no clock: time is passed in' },
        { name: 'setTimeout', message: 'the core has no timers' },
        { name: 'setInterval', message: 'the core has no timers' },
        { name: 'Buffer', message: 'the core uses Uint8Array, not node Buffer' },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'the core uses seeded randomness passed in',
        },
      ],
    },
  },
  {
    // only config/ reads the environment
    files: ['src/**/*.ts'],
    ignores: ['src/config/**', 'src/core/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'only src/config reads process.env' },
      ],
    },
  },
);
