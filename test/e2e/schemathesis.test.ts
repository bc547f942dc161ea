/**
 * The OpenAPI-driven fuzzer (scripts/schemathesis.sh: Schemathesis from PyPI in a cached
 * virtualenv under .cache/) against a live `tally start`: no disagreement between
 * /openapi.json and the server. Skipped, saying why, where python3 with venv is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers/cli.js';

test(
  'schemathesis finds no disagreement between /openapi.json and the server',
  { timeout: 600_000 },
  (t) => {
    const venv = spawnSync('python3', ['-c', 'import venv, ensurepip'], { encoding: 'utf8' });
    if (venv.status !== 0) {
      t.skip(
        `python3 with venv and ensurepip is needed to install Schemathesis: ${venv.stderr.trim()}`,
      );
      return;
    }
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'schemathesis.sh'), '25'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, ST_MAX_TIME: '60' },
      maxBuffer: 64 * 1024 * 1024,
      timeout: 540_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    // the exit status is Schemathesis' verdict on failures; its warnings (e.g. "mostly rejected
    // generated data", which cross-parameter rules such as a configured filter name cause by
    // design, see the script) are heuristics and vary with how many cases fit the time budget
    assert.equal(r.status, 0, out.slice(-8000));
    const cases = /(\d+) generated, (\d+) passed\s*$/m.exec(out);
    assert.ok(cases, `no test-case summary in:\n${out.slice(-4000)}`);
    assert.equal(cases[1], cases[2], out.slice(-8000));
    assert.doesNotMatch(out, /unique failures?|errored/i, out.slice(-8000));
  },
);
