/**
 * Every role in one process (`all`): ingest into `<ns>.clicks`, the aggregator group member's
 * transactional cycles to `<ns>.aggregates`, the writer into PostgreSQL; drained, every count
 * and top list equals the oracle, and status shows the partitions and the writer's position.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { openDistributed } from '../../../src/app/distributed.js';
import { httpDepsFromDistributed } from '../../../src/app/http-distributed.js';
import { generateClicks } from '../../../src/core/generate/index.js';
import { MINUTE_MS as MINUTE } from '../../../src/core/window/minute.js';
import { silentLogger } from '../../../src/services/observability/logger.js';
import { assertExact, groupConfig, TEST_GROUP } from './group-support.js';
import { admin, BROKERS, DATABASE_URL, deleteNamespaceTopics, uniqueNamespace } from './support.js';

describe('distributed, every role in one process', () => {
  const ns = uniqueNamespace('all');
  const a = admin();
  after(async () => {
    await deleteNamespaceTopics(a, ns);
    await a.close();
    if (!process.env.TALLY_TEST_KEEP) await dropPgSchema(DATABASE_URL, ns);
  });

  it(
    'ingest → aggregator group → aggregates topic → writer → PostgreSQL, exact',
    { timeout: 180_000 },
    async () => {
      const now = Date.now();
      const lines: string[] = [];
      const gen = generateClicks({
        seed: 5,
        count: 12_000,
        ads: 300,
        startTime: now - 6 * MINUTE,
        eventsPerSecond: 60,
      });
      for (let r = gen.next(); !r.done; r = gen.next()) lines.push(...r.value);
      const app = await openDistributed(
        groupConfig,
        {
          brokers: BROKERS,
          databaseUrl: DATABASE_URL,
          namespace: ns,
          roles: ['all'],
          group: TEST_GROUP,
        },
        { logger: silentLogger() },
      );
      try {
        app.start();
        const half = Math.floor(lines.length / 2);
        const r1 = await app.ingest!.ingestBody(
          lines.slice(0, half).join('\n'),
          'application/x-ndjson',
          'test',
        );
        // while the loops run: some cycles commit between the two halves
        await new Promise((r) => setTimeout(r, 1_500));
        const r2 = await app.ingest!.ingestBody(
          lines.slice(half).join('\n'),
          'application/x-ndjson',
          'test',
        );
        await app.close(); // stops the loops; the drain below is a process of its own
        const drainer = await openDistributed(
          groupConfig,
          {
            brokers: BROKERS,
            databaseUrl: DATABASE_URL,
            namespace: ns,
            roles: ['aggregator', 'writer', 'query', 'ingest'],
            group: TEST_GROUP,
          },
          { logger: silentLogger() },
        );
        try {
          await drainer.aggregator!.drain();
          await drainer.writer!.drain();
          const res = await assertExact(drainer.store, lines, now, 'all roles');
          assert.ok(res.events > 10_000, `${res.events} events`);
          assert.ok(res.topsChecked > 5, `${res.topsChecked} top lists checked`);
          const st = (await drainer.store.status()).consumers.find((c) => c.consumer === 'writer')!;
          assert.equal(st.totals.events + st.totals.duplicates, r1.accepted + r2.accepted);
          assert.equal(st.totals.events, res.events);

          // a correction after the lists were published: a new ad clicked in the last minute
          // (within the allowed lateness) more than the leader; its window's global list changes
          const last = Math.max(
            ...(await drainer.store.rows(-Infinity, Infinity, '*')).map((r) => r.minute),
          );
          const published = await drainer.store.storedTop(1, last + MINUTE);
          assert.ok(published !== undefined && published.ads.length > 0, 'the last minute ranked');
          const extra = Array.from({ length: published.ads[0]!.count + 3 }, (_, i) =>
            JSON.stringify({
              ad_id: 'late-ad-x',
              timestamp: new Date(last + 1_000 + i).toISOString(),
              event_id: `late-${i}`,
            }),
          );
          const r3 = await drainer.ingest!.ingestBody(
            extra.join('\n'),
            'application/x-ndjson',
            'test',
          );
          assert.equal(r3.accepted, extra.length);
          await drainer.aggregator!.drain();
          await drainer.writer!.drain();
          const corrected = await assertExact(
            drainer.store,
            [...lines, ...extra],
            now,
            'corrected',
          );
          const relisted = await drainer.store.storedTop(1, last + MINUTE);
          assert.equal(relisted?.ads[0]?.adId, 'late-ad-x', JSON.stringify(relisted));
          assert.equal(corrected.events, res.events + extra.length);

          const status = await httpDepsFromDistributed(drainer).status();
          assert.equal(status.partitions.length, 8);
          assert.equal(status.lag, 0);
          assert.equal(status.writer?.lag, 0);
          assert.ok(status.partitions.every((p) => p.watermark !== null));
          assert.ok(status.watermark !== null);
          console.error(
            `all roles: ${res.events} events, ${res.late} late, ${res.topsChecked} top lists exact, watermark ${status.watermark}`,
          );
        } finally {
          await drainer.close();
        }
      } finally {
        await app.close();
      }
    },
  );
});
