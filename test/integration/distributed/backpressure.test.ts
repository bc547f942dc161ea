/**
 * Back-pressure in an ingest process that runs no aggregator: it learns the aggregators' lag
 * from the broker's ends and the offsets committed in PostgreSQL, refuses new batches while
 * the lag is over the limit (503 TALLY_AGGREGATOR_BEHIND over HTTP), and admits them again
 * once an aggregator elsewhere has caught up.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { openDistributed } from '../../../src/app/distributed.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { admin, BROKERS, DATABASE_URL, deleteNamespaceTopics, uniqueNamespace } from './support.js';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ingest back-pressure across processes', () => {
  const ns = uniqueNamespace('bp');
  const a = admin();
  after(async () => {
    await deleteNamespaceTopics(a, ns);
    await a.close();
    await dropPgSchema(DATABASE_URL, ns);
  });

  it('refuses while the remote aggregator lags over the limit, admits once it caught up', async () => {
    const config = loadConfig({
      env: {},
      overrides: {
        log: { partitions: 2 },
        http: { maxLagRecords: 50 },
        aggregation: { commitIntervalMs: 50 },
      },
    });
    const o = { brokers: BROKERS, databaseUrl: DATABASE_URL, namespace: ns };
    const ingest = await openDistributed(
      config,
      { ...o, roles: ['ingest'] },
      { logger: silentLogger() },
    );
    const minute = Math.floor((Date.now() - 5 * MINUTE) / MINUTE) * MINUTE;
    let n = 0;
    const body = (k: number) =>
      Array.from({ length: k }, () =>
        JSON.stringify({
          ad_id: 'a',
          timestamp: new Date(minute).toISOString(),
          event_id: `e${n++}`,
        }),
      ).join('\n');
    try {
      assert.equal(
        (await ingest.ingest!.ingestBody(body(100), 'application/x-ndjson', 'test')).accepted,
        100,
      );
      const refused = async () => {
        try {
          ingest.ingest!.admit(10);
          return undefined;
        } catch (e) {
          return (e as { code?: string }).code;
        }
      };
      const deadline = Date.now() + 10_000;
      while ((await refused()) !== 'TALLY_AGGREGATOR_BEHIND') {
        assert.ok(Date.now() < deadline, 'never refused');
        await sleep(20);
      }
      const agg = await openDistributed(
        config,
        { ...o, roles: ['aggregator'] },
        { logger: silentLogger() },
      );
      try {
        await agg.aggregator!.drain();
      } finally {
        await agg.close();
      }
      while ((await refused()) !== undefined) {
        assert.ok(Date.now() < deadline, 'never admitted again');
        await sleep(20);
      }
    } finally {
      await ingest.close();
    }
  });
});
