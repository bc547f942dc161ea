#!/usr/bin/env node
// `npm test`: type-check and build, lint, format check, then every test file under dist/test
// on the Node that runs it, and nearly all of them on each other supported version
// (scripts/node-versions.mjs).
// TALLY_TEST_ONLY=<substring> narrows the test files (for local runs); a narrowed run stays on
// this Node unless TALLY_TEST_NODES names versions (comma-separated; empty: none).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OTHER_NODES, ensureNode, ensureSqliteAddon, layTree } from './node-versions.mjs';

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
const nodeTest = ['--enable-source-maps', '--test', '--test-reporter=spec'];
run(process.execPath, [...nodeTest, ...files]);

// On the other versions, all but two e2e files: the benchmark smoke run (a timing harness of
// the dev tools, not the product; 30–45 s) and the browser test (Chromium is the same whatever
// the Node, and the routes the page reads have their own tests).
const NOT_ON_OTHER_NODES = /e2e[/\\](bench-smoke|dashboard)\.test\.js$/;
const named = process.env.TALLY_TEST_NODES;
const others =
  named !== undefined
    ? named
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
    : only
      ? []
      : OTHER_NODES;
for (const version of others) {
  console.error(`\n── Node ${version} ──`);
  const node = ensureNode(version);
  const tree = layTree(version, ensureSqliteAddon(version, node));
  const some = files.filter((f) => !NOT_ON_OTHER_NODES.test(f));
  run(node.bin, [...nodeTest, ...some], { cwd: tree });
}
