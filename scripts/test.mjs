#!/usr/bin/env node
// `npm test`: type-check and build, lint, format check, then every test file under dist/test.
// TALLY_TEST_ONLY=<substring> narrows the test files (for local runs). The tests under
// test/integration/distributed need the local Kafka broker and PostgreSQL: they are brought up
// first (scripts/services.mjs, reusing what already runs) and what this run started is
// stopped again at the end, so that the machine is left as it was found.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { servicesDown, servicesUp } from './services.mjs';

function run(cmd, args, opts = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(' ')} failed (${secs}s)`);
    process.exit(r.status ?? 1);
  }
  console.error(`✓ ${cmd} ${args.slice(0, 2).join(' ')} (${secs}s)`);
}

function testFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const bin = (name) => join('node_modules', '.bin', name);
run(bin('tsc'), ['-p', 'tsconfig.json']);
if (!process.env.TALLY_SKIP_LINT) {
  run(bin('eslint'), ['.']);
  run(bin('prettier'), ['--check', '.', '--log-level', 'warn']);
}
// what the tests need, brought up by scripts in the repo
run('bash', ['scripts/ensure-chromium.sh']);
const only = process.env.TALLY_TEST_ONLY;
const files = testFiles(join('dist', 'test')).filter((f) => !only || f.includes(only));

let started;
if (files.some((f) => f.includes(`${sep}distributed${sep}`))) {
  const began = Date.now();
  try {
    started = await servicesUp();
  } catch (e) {
    console.error(`\n✗ services:up failed: ${e.message}`);
    process.exit(1);
  }
  console.error(`✓ services:up (${((Date.now() - began) / 1000).toFixed(1)}s)`);
}
const began = Date.now();
const tests = spawnSync(
  process.execPath,
  ['--enable-source-maps', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
const secs = ((Date.now() - began) / 1000).toFixed(1);
if (started !== undefined && (started.kafka || started.postgres)) {
  await servicesDown(started).catch((e) => console.error(`services:down failed: ${e.message}`));
}
if (tests.status !== 0) {
  console.error(`\n✗ tests failed (${secs}s)`);
  process.exit(tests.status ?? 1);
}
console.error(`✓ tests (${secs}s)`);
