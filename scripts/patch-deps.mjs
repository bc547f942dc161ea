#!/usr/bin/env node
// `npm install` / `npm ci` run this (postinstall): applies patches/ to node_modules with
// patch-package, so a clean clone runs the patched dependencies. The one patch today backports
// a fix of @platformatic/kafka 2.x (a consumer stopped heartbeating for good after a broker
// went away) to the 1.35.x line, the last one that runs on Node 20. A packed tarball installed
// as a dependency carries neither patches/ nor patch-package: it says so and goes on.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let bin;
try {
  bin = require.resolve('patch-package/index.js');
} catch {
  bin = undefined;
}
if (bin === undefined || !existsSync(new URL('../patches', import.meta.url))) {
  console.error('tally: patches/ or patch-package not here: @platformatic/kafka left unpatched');
  process.exit(0);
}
const r = spawnSync(process.execPath, [bin, '--error-on-fail'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
