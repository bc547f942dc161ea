#!/usr/bin/env node
// `npm install` runs this (prepare). With the dev dependencies (a plain `npm install` or
// `npm ci` in the repo) it builds and type-checks everything: the product, the tests and the
// benchmark suite, so `npm test` and `tally bench` work at once. Without them (`npm install
// --omit=dev`) it transpiles the product alone, src/ → dist/src/, unchecked: the type
// definitions are dev dependencies, and checking is `npm test`'s job.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const installed = (pkg) => {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
};

const args = installed('@types/node')
  ? ['-p', 'tsconfig.json']
  : ['-p', 'tsconfig.build.json', '--noCheck'];
const tsc = require.resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
