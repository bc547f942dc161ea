import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { openEmbedded, type EmbeddedApp } from '../../../src/app/embedded.js';
import { loadConfig, type Config, type DeepPartial } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { createMetrics } from '../../../src/services/observability/metrics.js';
import type { HttpDeps } from '../../../src/services/http/deps.js';
import { httpDepsFromEmbedded } from '../../../src/app/http.js';
import { buildHttpServer } from '../../../src/services/http/server.js';

export const MINUTE = 60_000;

export interface TestServer {
  app: EmbeddedApp;
  server: FastifyInstance;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * A real embedded app (log, store, dead letters, aggregator) in a temp dir behind the real
 * HTTP server. The aggregator loop is not started: tests drain it when they need counts.
 */
export async function openTestServer(
  overrides: DeepPartial<Config> = {},
  opts: { deps?: (app: EmbeddedApp, base: HttpDeps) => HttpDeps } = {},
): Promise<TestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tally-http-'));
  const config = loadConfig({ env: {}, overrides: { ...overrides, dataDir } });
  const app = await openEmbedded(config, {
    logger: silentLogger(),
    metrics: createMetrics({ defaults: false }),
  });
  const base = httpDepsFromEmbedded(app);
  const deps = opts.deps ? opts.deps(app, base) : base;
  const server = buildHttpServer(deps, {
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger: silentLogger(),
  });
  return {
    app,
    server,
    dataDir,
    async close() {
      await server.close();
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The start of the minute `back` minutes before the current one: closed and well in the past. */
export function pastMinute(back: number, now = Date.now()): number {
  return Math.floor(now / MINUTE) * MINUTE - back * MINUTE;
}

export function ndjson(records: unknown[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

export function totalAppended(app: EmbeddedApp): number {
  let n = 0;
  for (let p = 0; p < app.log.partitions; p++) n += app.log.endOffset(p);
  return n;
}

export interface ErrorShape {
  error: string;
  code: string;
  parameter?: string;
  field?: string;
}
