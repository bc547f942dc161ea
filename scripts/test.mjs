#!/usr/bin/env node
// `npm test`: type-check and build, lint, format check, then every test file under dist/test
// on the Node that runs it, and nearly all of them on each other supported version
// (scripts/node-versions.mjs).
// TALLY_TEST_ONLY=<substring> narrows the test files (for local runs); a narrowed run stays on
// this Node unless TALLY_TEST_NODES names versions (comma-separated; empty: none).
// TALLY_TEST_CONCURRENCY=<n> sets how many test files run at once (see CONCURRENCY).
// The tests under test/integration/distributed need the local Kafka broker and PostgreSQL: they
// are brought up first (scripts/services.mjs, reusing what already runs) and what this run
// started is stopped again at the end, so that the machine is left as it was found.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, sep } from 'node:path';
import { OTHER_NODES, ensureNode, ensureSqliteAddon, layTree } from './node-versions.mjs';
import { servicesDown, servicesUp } from './services.mjs';

/** what this run started, stopped again however the run ends */
let started;
async function stopStarted() {
  if (started !== undefined && (started.kafka || started.postgres)) {
    const s = started;
    started = undefined;
    await servicesDown(s).catch((e) => console.error(`services:down failed: ${e.message}`));
  }
}

async function run(cmd, args, opts = {}) {
  const started = Date.now();
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  if (r.status !== 0) {
    console.error(`\n✗ ${cmd} ${args.join(' ')} failed (${secs}s)`);
    return stopStarted().then(() => process.exit(r.status ?? 1));
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

// The files that take longest (minutes each at low load: the benchmark smoke run, Schemathesis,
// the fuzzing, the CLI runs, the distributed scenarios with a broker of their own) start first,
// so that the short ones fill in beside them instead of one long file running alone at the
// end. Order only: every file runs either way.
const LONG_FIRST = [
  /e2e[/\\]bench-smoke\.test\.js$/,
  /faults[/\\]hostile-input\.test\.js$/,
  /e2e[/\\]schemathesis\.test\.js$/,
  /distributed[/\\](scale-out|broker-restart|outage|pipeline)\.test\.js$/,
  /e2e[/\\]cli(-distributed)?\.test\.js$/,
  /distributed[/\\]/,
];
function longFirst(files) {
  const rank = (f) => {
    const i = LONG_FIRST.findIndex((re) => re.test(f));
    return i < 0 ? LONG_FIRST.length : i;
  };
  return files
    .map((f, i) => ({ f, i, r: rank(f) }))
    .sort((a, b) => a.r - b.r || a.i - b.i)
    .map((x) => x.f);
}

// Test files at once. node --test's default, availableParallelism() − 1, is one file at a time
// on a 2-core machine, where most of the suite's time is waiting, not computing: on the
// broker's group rebalances and session timeouts, on child processes starting and stopping,
// on the database, on the scenarios' clocks. Each file runs in a process of its own, with its
// own temp dirs, namespace and schema, broker of its own where it stops one, and port 0, so
// files at once share nothing but the machine. One per core, not more: the scenarios with
// timeouts (group session timeouts, kill-and-restore) stay clear of them on a loaded machine.
const CONCURRENCY = Number(process.env.TALLY_TEST_CONCURRENCY) || availableParallelism();

const bin = (name) => join('node_modules', '.bin', name);
await run(bin('tsc'), ['-p', 'tsconfig.json']);
if (!process.env.TALLY_SKIP_LINT) {
  await run(bin('eslint'), ['.']);
  await run(bin('prettier'), ['--check', '.', '--log-level', 'warn']);
}
// what the tests need, brought up by scripts in the repo
await run('bash', ['scripts/ensure-chromium.sh']);
const only = process.env.TALLY_TEST_ONLY;
const files = longFirst(testFiles(join('dist', 'test')).filter((f) => !only || f.includes(only)));
if (files.length === 0) {
  // a narrowing that matches nothing must not pass as a green run (nor run something else)
  console.error(
    `\n✗ TALLY_TEST_ONLY=${JSON.stringify(only)} matches no test file under dist/test: nothing was run`,
  );
  process.exit(1);
}
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
const nodeTest = [
  '--enable-source-maps',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${CONCURRENCY}`,
];
await run(process.execPath, [...nodeTest, ...files]);

// On the other versions, all but these: the benchmark smoke run (a timing harness of the dev
// tools, not the product; 30–150 s), the browser test (Chromium is the same whatever the Node,
// and the routes the page reads have their own tests), the two external linters of what the
// server says (promtool, Schemathesis: the document and the metrics page are the same whatever
// the Node), and the distributed scenarios (minutes of waiting on the broker's rebalances and
// the database: the Kafka and PostgreSQL clients are plain JavaScript over sockets, and their
// adapters' contract suites (log-kafka, *contract*) do run on every version).
const NOT_ON_OTHER_NODES =
  /e2e[/\\](bench-smoke|dashboard|schemathesis|promtool)\.test\.js$|distributed[/\\](?!log-kafka|[^/\\]*contract)[^/\\]+\.test\.js$/;
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
  await run(node.bin, [...nodeTest, ...some], { cwd: tree });
}
await stopStarted();
