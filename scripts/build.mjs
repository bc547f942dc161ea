#!/usr/bin/env node
// `npm install` runs this (prepare). With the dev dependencies (a plain `npm install` or
// `npm ci` in the repo) it type-checks and builds everything: the product, the tests and the
// benchmark suite, so `npm test` and `tally bench` work at once. TypeScript is a dev
// dependency: a production install (`--omit=dev`) runs a build made beforehand (a packed
// tarball carries dist/src/; from a clone: `npm ci && npm run build && npm prune --omit=dev`),
// so without TypeScript this only checks that the build is there.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  if (existsSync(new URL('../dist/src/cli/main.js', import.meta.url))) process.exit(0);
  console.error(
    'tally: no build in dist/src and no TypeScript to make one (a dev dependency).\n' +
      'Build first, then drop the dev dependencies: npm ci && npm run build && npm prune --omit=dev',
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
