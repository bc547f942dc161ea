/**
 * /metrics passes `promtool check metrics` (Prometheus' own linter). promtool comes with
 * Debian's `prometheus` package; the test installs it when it runs as root with apt-get (as
 * in CI; the install is skipped when promtool is there), and otherwise says why it skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbedded } from '../../src/app/embedded.js';
import { httpDepsFromEmbedded } from '../../src/app/http.js';
import { loadConfig } from '../../src/config/index.js';
import { buildHttpServer } from '../../src/services/http/server.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { createMetrics } from '../../src/services/observability/metrics.js';

function promtool(): string | undefined {
  const found = spawnSync('promtool', ['--version']);
  if (found.status === 0) return 'promtool';
  if (process.getuid?.() !== 0 || spawnSync('apt-get', ['--version']).status !== 0)
    return undefined;
  // only the package's files: its service is not started (policy-rc.d-less containers and
  // hosts alike: --no-install-recommends, and nothing here runs the server)
  spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: 'ignore',
    timeout: 300_000,
  });
  return spawnSync('promtool', ['--version']).status === 0 ? 'promtool' : undefined;
}

test('/metrics passes promtool check metrics', { timeout: 360_000 }, async (t) => {
  const bin = promtool();
  if (bin === undefined) {
    t.skip(
      'promtool is not installed and cannot be (not root, or no apt-get): apt-get install prometheus',
    );
    return;
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'tally-promtool-'));
  // the metrics `tally start` exports, Node's defaults included
  const app = await openEmbedded(loadConfig({ env: {}, overrides: { dataDir } }), {
    logger: silentLogger(),
    metrics: createMetrics(),
  });
  const server = buildHttpServer(httpDepsFromEmbedded(app), {
    bodyLimitBytes: 1 << 20,
    logger: silentLogger(),
  });
  try {
    // a few requests and a cycle first, so that labelled series exist too
    await server.inject({ url: '/v1/ads/popular_ads' });
    await server.inject({ method: 'TRACE', url: '/v1/clicks' });
    await app.runner.cycle({ snapshot: true });
    const res = await server.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    const r = spawnSync(bin, ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}`);
  } finally {
    await server.close();
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
