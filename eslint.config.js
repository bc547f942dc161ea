// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The dependency rule (docs/architecture.md): the layers under src/ each layer may import.
 * Every arrow that is not listed is a lint error; test/unit/lint/dependency-rule.test.ts proves
 * that each one fires.
 */
export const MAY_IMPORT = {
  core: [],
  ports: ['core'],
  config: ['core'],
  adapters: ['core', 'ports', 'config'],
  services: ['core', 'ports', 'config'],
  app: ['core', 'ports', 'config', 'adapters', 'services'],
  // the command line parses and prints; it reaches the core only for the error catalogue
  cli: ['app', 'config', 'core/errors.js'],
};

/**
 * no-restricted-imports patterns for one layer. Imports across layers climb to src/ and go
 * down again (`../../services/…`), so a relative specifier that reaches a layer's folder names
 * it; nothing below src/ is named like a layer.
 */
function layerPatterns(layer) {
  const allowed = MAY_IMPORT[layer];
  const patterns = [];
  for (const other of Object.keys(MAY_IMPORT)) {
    if (other === layer || allowed.includes(other)) continue;
    // a layer allowed only one file of another (cli → core/errors.js)
    const files = allowed
      .filter((a) => a.startsWith(`${other}/`))
      .map((a) => a.slice(other.length + 1));
    const except = files.length
      ? `(?!(?:${files.map((f) => f.replaceAll('.', '\\.')).join('|')})$)`
      : '';
    const reach = files.length ? `only ${files.join(', ')} of ${other}` : `nothing of ${other}`;
    patterns.push({
      regex: `^(?:\\.\\./)+${other}(?:/${except}|$)`,
      message: `${layer} may import ${allowed.join(', ') || 'nothing outside itself'}: ${reach} (docs/architecture.md)`,
    });
  }
  patterns.push({
    regex: '^(?:\\.\\./)+(?:bench|test)(?:/|$)',
    message: 'the product does not import its tests or benchmarks',
  });
  return patterns;
}

const dependencyRule = Object.keys(MAY_IMPORT).map((layer) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...layerPatterns(layer),
          ...(layer === 'core' || layer === 'ports'
            ? [
                {
                  regex: '^(?!\\.)',
                  message: `${layer} is pure: no node:* and no packages`,
                },
              ]
            : []),
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.services/**', '.cache/**'] },
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
  ...dependencyRule,
  {
    // the core is pure: no I/O, no clock, no timers, no environment, no randomness
    files: ['src/core/**/*.ts'],
    rules: {
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
