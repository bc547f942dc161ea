/**
 * The PostgreSQL aggregate store against the real database: the aggregate store contract
 * (test/contract/aggregate-store.contract), each case in a schema of its own that is dropped
 * afterwards; then what only a shared database shows: two processes' commits fenced by seq,
 * and a concurrent open migrating once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dropPgSchema, openPgStore } from '../../../src/adapters/store-pg/index.js';
import {
  batch,
  reopenableFixture,
  row,
  runAggregateStoreContract,
} from '../../contract/aggregate-store.contract.js';
import { DATABASE_URL, uniqueNamespace } from './support.js';
import pg from 'pg';
import type { TopRow } from '../../../src/ports/aggregates.js';
import type { WriterBatch } from '../../../src/ports/partitioned-aggregates.js';

const run = uniqueNamespace('store');
let n = 0;

function fixture() {
  return async () => {
    const schema = `${run}_${n++}`;
    return reopenableFixture(
      () => openPgStore({ url: DATABASE_URL, schema, poolSize: 2 }),
      () => dropPgSchema(DATABASE_URL, schema),
    );
  };
}

runAggregateStoreContract('postgres', fixture());

describe('postgres store: what a shared database adds', () => {
  it('opens concurrently: one migration, every opener works', async () => {
    const schema = `${run}_c`;
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openPgStore({ url: DATABASE_URL, schema, poolSize: 1 })),
    );
    try {
      await Promise.all(
        stores.map((s, i) =>
          s.commit(batch({ consumer: `c${i}`, rows: [row(0, `a${i}`, i + 1)] })),
        ),
      );
      assert.equal((await stores[0]!.status()).consumers.length, 4);
      assert.equal(await stores[3]!.count('a2', -Infinity, Infinity), 3);
    } finally {
      for (const s of stores) await s.close();
      await dropPgSchema(DATABASE_URL, schema);
    }
  });

  it('fences concurrent writers of one consumer: exactly one of two commits at a seq lands', async () => {
    const schema = `${run}_f`;
    const one = await openPgStore({ url: DATABASE_URL, schema });
    const two = await openPgStore({ url: DATABASE_URL, schema });
    try {
      await one.commit(batch({ expectedSeq: 0 }));
      for (let seq = 1; seq <= 20; seq++) {
        const results = await Promise.allSettled([
          one.commit(batch({ expectedSeq: seq, rows: [row(0, 'a', 2 * seq)] })),
          two.commit(batch({ expectedSeq: seq, rows: [row(0, 'a', 2 * seq + 1)] })),
        ]);
        const ok = results.filter((r) => r.status === 'fulfilled');
        assert.equal(ok.length, 1, `seq ${seq}: ${results.map((r) => r.status).join(', ')}`);
        const refused = results.find((r) => r.status === 'rejected');
        assert.equal(
          (refused?.reason as { details?: { reason?: string } }).details?.reason,
          'fenced',
        );
      }
      assert.equal((await one.loadCheckpoint('agg')).seq, 21);
    } finally {
      await one.close();
      await two.close();
      await dropPgSchema(DATABASE_URL, schema);
    }
  });

  it('an unreachable database is a TALLY_STORE_FAILURE naming the cause, not a hang', async () => {
    const started = Date.now();
    await assert.rejects(
      openPgStore({
        url: 'postgres://tally@127.0.0.1:1/tally',
        schema: `${run}_u`,
        connectTimeoutMs: 2000,
      }),
      (e: { code?: string; message?: string; details?: { pgCode?: string } }) =>
        e.code === 'TALLY_STORE_FAILURE' && e.details?.pgCode === 'ECONNREFUSED',
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await assert.rejects(
      openPgStore({ url: DATABASE_URL, schema: 'x"; drop schema public; --' }),
      (e: { code?: string }) => e.code === 'TALLY_CONFIG_INVALID',
    );
  });
});

describe('postgres store: the writer merges the partitions’ lists per dimension value', () => {
  const m = (k: number) => 1_800_000_000_000 + k * 60_000;
  const cycle = (partition: number, n: number, watermark: number, top: TopRow[] = []) => ({
    partition,
    cycle: n,
    from: n - 1,
    to: n,
    watermark,
    top,
    stats: { events: 0, duplicates: 0, late: 0 },
  });

  it('merges each (window, end, value) over the partitions, re-merges a correction, prunes what no partition corrects', async () => {
    const schema = `${run}_w`;
    const store = await openPgStore({ url: DATABASE_URL, schema });
    try {
      let seq = 0;
      const commit = async (b: Partial<WriterBatch>) =>
        store.commitWriter({
          rows: [],
          late: [],
          cycles: [],
          offsets: new Map(),
          expectedSeq: seq++,
          partitions: 2,
          topN: 2,
          allowedLatenessMs: 120_000,
          ...b,
        });
      const us = 'country=US';
      // partition 0 reports its lists, partition 1 has not passed the end yet: nothing merged
      await commit({
        candidates: [
          {
            partition: 0,
            top: [{ windowMinutes: 1, endMinute: m(1), dim: us, ads: [{ adId: 'a', count: 3 }] }],
          },
        ],
        cycles: [
          cycle(0, 1, m(1), [
            { windowMinutes: 1, endMinute: m(1), ads: [{ adId: 'a', count: 5 }] },
          ]),
          cycle(1, 1, m(0)),
        ],
      });
      assert.equal(await store.storedTop(1, m(1), us), undefined);
      // partition 1 passes it with lists of its own ads (disjoint): the merges are written
      await commit({
        candidates: [
          {
            partition: 1,
            top: [
              {
                windowMinutes: 1,
                endMinute: m(1),
                dim: us,
                ads: [
                  { adId: 'b', count: 4 },
                  { adId: 'c', count: 1 },
                ],
              },
              {
                windowMinutes: 1,
                endMinute: m(1),
                dim: 'country=FR',
                ads: [{ adId: 'd', count: 2 }],
              },
            ],
          },
        ],
        cycles: [
          cycle(1, 2, m(1), [
            { windowMinutes: 1, endMinute: m(1), ads: [{ adId: 'b', count: 6 }] },
          ]),
        ],
      });
      assert.deepEqual((await store.storedTop(1, m(1), us))?.ads, [
        { adId: 'b', count: 4 },
        { adId: 'a', count: 3 },
      ]);
      assert.deepEqual((await store.storedTop(1, m(1), 'country=FR'))?.ads, [
        { adId: 'd', count: 2 },
      ]);
      assert.deepEqual((await store.storedTop(1, m(1)))?.ads, [
        { adId: 'b', count: 6 },
        { adId: 'a', count: 5 },
      ]);
      // a late event corrects partition 0's US list only: that value is merged again
      await commit({
        candidates: [
          {
            partition: 0,
            top: [{ windowMinutes: 1, endMinute: m(1), dim: us, ads: [{ adId: 'a', count: 7 }] }],
          },
        ],
        cycles: [cycle(0, 2, m(2)), cycle(1, 3, m(2))],
      });
      assert.deepEqual((await store.storedTop(1, m(1), us))?.ads, [
        { adId: 'a', count: 7 },
        { adId: 'b', count: 4 },
      ]);
      assert.deepEqual((await store.storedTop(1, m(1), 'country=FR'))?.ads, [
        { adId: 'd', count: 2 },
      ]);
      // once every partition is past end + lateness, the candidates go; the lists stay
      await commit({ cycles: [cycle(0, 3, m(3)), cycle(1, 4, m(3))] });
      const left = await pgCount(schema);
      assert.equal(left, 0);
      assert.deepEqual((await store.storedTop(1, m(1), us))?.ads, [
        { adId: 'a', count: 7 },
        { adId: 'b', count: 4 },
      ]);
      // a list for a pruned end (a drain's last cycle closes it in every partition, with nothing
      // of its own there) leaves the merged lists as they are
      await commit({
        candidates: [
          { partition: 1, top: [{ windowMinutes: 1, endMinute: m(1), dim: us, ads: [] }] },
        ],
        cycles: [cycle(1, 5, Infinity, [{ windowMinutes: 1, endMinute: m(1), ads: [] }])],
      });
      assert.deepEqual((await store.storedTop(1, m(1), us))?.ads, [
        { adId: 'a', count: 7 },
        { adId: 'b', count: 4 },
      ]);
      assert.deepEqual((await store.storedTop(1, m(1)))?.ads, [
        { adId: 'b', count: 6 },
        { adId: 'a', count: 5 },
      ]);
    } finally {
      await store.close();
      await dropPgSchema(DATABASE_URL, schema);
    }
  });
});

async function pgCount(schema: string): Promise<number> {
  const c = new pg.Client({ connectionString: DATABASE_URL });
  await c.connect();
  try {
    const r = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".top_candidates`);
    return Number(r.rows[0]!.n);
  } finally {
    await c.end();
  }
}
