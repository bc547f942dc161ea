/**
 * The HTTP API over the distributed composition (ingest, aggregator and query roles in one
 * process, on the broker and the database): POST /v1/clicks answers once the records are on
 * the broker, counts come from PostgreSQL, /v1/status shows the partitions' ends from Kafka
 * and the offsets committed in PostgreSQL, /healthz is ready.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { openDistributed, type DistributedApp } from '../../../src/app/distributed.js';
import { httpDepsFromDistributed } from '../../../src/app/http-distributed.js';
import { loadConfig } from '../../../src/config/index.js';
import { buildHttpServer } from '../../../src/services/http/server.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { createMetrics } from '../../../src/services/observability/metrics.js';
import { admin, BROKERS, DATABASE_URL, deleteNamespaceTopics, uniqueNamespace } from './support.js';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HTTP API on the distributed composition', () => {
  const ns = uniqueNamespace('http');
  const a = admin();
  let app: DistributedApp;
  let server: FastifyInstance;
  let base: string;

  before(async () => {
    const config = loadConfig({
      env: {},
      overrides: {
        log: { partitions: 4 },
        aggregation: { idleTimeoutMs: 2_000, commitIntervalMs: 100, allowedLatenessMs: 3_600_000 },
      },
    });
    app = await openDistributed(
      config,
      {
        brokers: BROKERS,
        databaseUrl: DATABASE_URL,
        namespace: ns,
        roles: ['all'],
      },
      { logger: silentLogger(), metrics: createMetrics({ defaults: false }) },
    );
    app.start();
    server = buildHttpServer(httpDepsFromDistributed(app), {
      bodyLimitBytes: config.http.bodyLimitBytes,
      logger: silentLogger(),
    });
    base = await server.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await server?.close();
    await app?.close();
    await deleteNamespaceTopics(a, ns);
    await a.close();
    await dropPgSchema(DATABASE_URL, ns);
  });

  it(
    'ingests, counts, and reports status from Kafka and PostgreSQL',
    { timeout: 60_000 },
    async () => {
      const minute = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
      const records = [
        ...Array.from({ length: 30 }, (_, i) => ({
          ad_id: `ad-${i % 3}`,
          timestamp: new Date(minute + i * 1000).toISOString(),
          event_id: `e-${i}`,
          country: i % 2 === 0 ? 'US' : 'CA',
        })),
        { ad_id: 'ad-0', timestamp: new Date(minute).toISOString(), event_id: 'e-0' }, // duplicate
        { ad_id: '', timestamp: 'not a time', event_id: 'x' }, // rejected
      ];
      const res = await fetch(`${base}/v1/clicks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(records),
      });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { accepted: number; rejected: Array<{ index: number }> };
      assert.equal(body.accepted, 31);
      assert.deepEqual(
        body.rejected.map((r) => r.index),
        [31],
      );

      const q = `from=${minute}&to=${minute + MINUTE}`;
      const deadline = Date.now() + 30_000;
      let count = -1;
      while (Date.now() < deadline) {
        const c = await fetch(`${base}/v1/ads/ad-0/aggregated_count?${q}`);
        assert.equal(c.status, 200);
        count = ((await c.json()) as { count: number }).count;
        if (count === 10) break;
        await sleep(100);
      }
      assert.equal(count, 10, 'ad-0: 10 distinct events, the duplicate once');
      const us = await fetch(`${base}/v1/ads/ad-0/aggregated_count?${q}&filter=country=US`);
      assert.equal(((await us.json()) as { count: number }).count, 5);

      const top = await fetch(`${base}/v1/ads/popular_ads?window=1&to=${minute + MINUTE}&count=2`);
      assert.deepEqual(((await top.json()) as { ad_ids: string[] }).ad_ids, ['ad-0', 'ad-1']);

      const st = (await (await fetch(`${base}/v1/status`)).json()) as {
        config: { mode: string };
        lag: number;
        partitions: Array<{ end_offset: number; committed_offset: number }>;
        totals: { appended: number; events: number; duplicates: number; dead_letters: number };
      };
      assert.equal(st.config.mode, 'distributed');
      assert.equal(st.partitions.length, 4);
      assert.equal(st.totals.appended, 31);
      assert.equal(st.lag, 0);
      assert.deepEqual(
        st.partitions.map((p) => p.committed_offset),
        st.partitions.map((p) => p.end_offset),
      );
      assert.equal(st.totals.events, 30);
      assert.equal(st.totals.duplicates, 1);
      assert.equal(st.totals.dead_letters, 1);

      const health = await fetch(`${base}/healthz`);
      assert.equal(health.status, 200);
    },
  );
});
