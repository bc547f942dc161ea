/**
 * The AggregateStore contract, run by every adapter (SQLite, PostgreSQL): idempotent absolute
 * counts, atomic commits, checkpoints for exactly-once replay, and the query semantics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AggregateStore, CommitBatch, MinuteRow } from '../../src/ports/aggregate-store.js';

export interface AggregateStoreFixture {
  store: AggregateStore;
  /** closes the store and opens it again over the same storage */
  reopen: () => Promise<AggregateStore>;
  cleanup: () => Promise<void>;
}

const M = 60_000;
const T0 = Date.UTC(2026, 10, 25, 10, 0);

function batch(over: Partial<CommitBatch> = {}): CommitBatch {
  return {
    consumer: 'agg',
    rows: [],
    top: [],
    late: [],
    offsets: new Map([[0, 1]]),
    watermark: T0,
    ...over,
  };
}

function row(minute: number, adId: string, count: number, dim = '*'): MinuteRow {
  return { minute: T0 + minute * M, adId, dim, count };
}

export function runAggregateStoreContract(name: string, make: () => Promise<AggregateStoreFixture>): void {
  describe(`AggregateStore contract: ${name}`, () => {
    let fx: AggregateStoreFixture;
    let store: AggregateStore;
    before(async () => {
      fx = await make();
      store = fx.store;
    });
    after(async () => fx.cleanup());

    it('starts empty', async () => {
      const cp = await store.loadCheckpoint('nobody');
      assert.equal(cp.snapshot, undefined);
      assert.equal(cp.cycles.length, 0);
      assert.equal(cp.offsets.size, 0);
      assert.equal(cp.watermark, -Infinity);
      assert.deepEqual(cp.totals, { events: 0, duplicates: 0, late: 0 });
      assert.equal(await store.count('a', -Infinity, Infinity), 0);
    });

    it('upserts absolute counts: the same batch twice changes nothing', async () => {
      const b = batch({ consumer: 'idem', rows: [row(0, 'a', 3), row(1, 'a', 4), row(0, 'a', 2, 'country=US')] });
      await store.commit(b);
      await store.commit(b);
      assert.equal(await store.count('a', T0, T0 + 2 * M), 7);
      await store.commit(batch({ consumer: 'idem', rows: [row(0, 'a', 5)] })); // a correction
      assert.equal(await store.count('a', T0, T0 + 2 * M), 9);
      assert.equal(await store.count('a', T0, T0 + 2 * M, { dims: ['country=US'] }), 2);
    });

    it('counts half-open minute ranges', async () => {
      await store.commit(batch({ consumer: 'range', rows: [row(10, 'r', 1), row(11, 'r', 10), row(12, 'r', 100)] }));
      assert.equal(await store.count('r', T0 + 11 * M, T0 + 12 * M), 10);
      assert.equal(await store.count('r', T0 + 10 * M + 1, T0 + 12 * M + 1), 110);
      assert.equal(await store.count('r', T0 + 10 * M, T0 + 10 * M), 0);
      const series = await store.timeseries('r', T0 + 10 * M, T0 + 13 * M);
      assert.deepEqual(series, [
        { minute: T0 + 10 * M, count: 1 },
        { minute: T0 + 11 * M, count: 10 },
        { minute: T0 + 12 * M, count: 100 },
      ]);
    });

    it('ranks exactly, ties by ad_id ascending, with dimension filters', async () => {
      const rows = [
        row(20, 'b', 5),
        row(20, 'a', 5),
        row(21, 'c', 4),
        row(21, 'a', 1),
        row(20, 'b', 5, 'country=US'),
        row(20, 'a', 2, 'country=CA'),
        row(21, 'c', 4, 'country=CA'),
      ];
      await store.commit(batch({ consumer: 'rank', rows }));
      assert.deepEqual(await store.top(T0 + 20 * M, T0 + 22 * M, 3), [
        { adId: 'a', count: 6 },
        { adId: 'b', count: 5 },
        { adId: 'c', count: 4 },
      ]);
      assert.deepEqual(await store.top(T0 + 20 * M, T0 + 21 * M, 2), [
        { adId: 'a', count: 5 },
        { adId: 'b', count: 5 },
      ]);
      assert.deepEqual(await store.top(T0 + 20 * M, T0 + 22 * M, 5, { dims: ['country=CA'] }), [
        { adId: 'c', count: 4 },
        { adId: 'a', count: 2 },
      ]);
      assert.deepEqual(await store.top(T0 + 20 * M, T0 + 22 * M, 5, { dims: ['country=CA', 'country=US'] }), [
        { adId: 'b', count: 5 },
        { adId: 'c', count: 4 },
        { adId: 'a', count: 2 },
      ]);
      assert.deepEqual(
        (await store.rows(T0 + 20 * M, T0 + 21 * M, '*')).map((r) => [r.adId, r.count]),
        [
          ['a', 5],
          ['b', 5],
        ],
      );
    });

    it('stores the precomputed top lists, replacing a corrected one', async () => {
      const top = { windowMinutes: 5, endMinute: T0 + 30 * M, ads: [{ adId: 'x', count: 9 }] };
      await store.commit(batch({ consumer: 'top', top: [top] }));
      await store.commit(batch({ consumer: 'top', top: [{ ...top, ads: [{ adId: 'y', count: 10 }, { adId: 'x', count: 9 }] }] }));
      assert.deepEqual((await store.storedTop(5, T0 + 30 * M))?.ads.map((a) => a.adId), ['y', 'x']);
      assert.equal(await store.storedTop(1, T0 + 30 * M), undefined);
    });

    it('keeps late records once, whatever is replayed, and pages them', async () => {
      const late = [0, 1, 2].map((i) => ({
        partition: 1,
        offset: 100 + i,
        adId: 'l',
        timestamp: T0 + i,
        eventId: `e${i}`,
        watermark: T0 + 10 * M,
        raw: `{"i":${i}}`,
      }));
      const before = await store.lateCount();
      await store.commit(batch({ consumer: 'late', late }));
      await store.commit(batch({ consumer: 'late', late }));
      assert.equal((await store.lateCount()) - before, 3);
      const page1 = await store.late(2);
      const page2 = await store.late(10, { partition: page1[1]!.partition, offset: page1[1]!.offset });
      const seen = [...page1, ...page2].filter((l) => l.adId === 'l').map((l) => l.eventId);
      assert.deepEqual(seen, ['e0', 'e1', 'e2']);
      assert.equal(page1[0]!.watermark, T0 + 10 * M);
    });

    it('keeps the cycles after the last snapshot, with offsets and watermarks, and totals', async () => {
      const c = 'cp';
      const o = (n: number) => new Map([[0, n], [1, 2 * n]]);
      await store.commit(batch({ consumer: c, offsets: o(1), watermark: T0 + 1, stats: { events: 5, duplicates: 1, late: 0 } }));
      await store.commit(
        batch({ consumer: c, offsets: o(2), watermark: T0 + 2, snapshot: new Uint8Array([1, 2, 3]), stats: { events: 5, duplicates: 0, late: 2 } }),
      );
      await store.commit(batch({ consumer: c, offsets: o(3), watermark: T0 + 3 }));
      await store.commit(batch({ consumer: c, offsets: o(4), watermark: Infinity }));
      const cp = await store.loadCheckpoint(c);
      assert.deepEqual([...(cp.snapshot ?? [])], [1, 2, 3]);
      assert.deepEqual([...cp.snapshotOffsets], [...o(2)]);
      assert.deepEqual(
        cp.cycles.map((x) => [[...x.offsets], x.watermark]),
        [
          [[...o(3)], T0 + 3],
          [[...o(4)], Infinity],
        ],
      );
      assert.deepEqual([...cp.offsets], [...o(4)]);
      assert.equal(cp.watermark, Infinity);
      assert.deepEqual(cp.totals, { events: 10, duplicates: 1, late: 2 });
      assert.ok(cp.cycles[0]!.seq < cp.cycles[1]!.seq);
    });

    it('commits atomically: a failing commit leaves nothing of itself', async () => {
      const c = 'atomic';
      await store.commit(batch({ consumer: c, rows: [row(40, 'z', 1)], offsets: new Map([[0, 10]]) }));
      const before = await store.loadCheckpoint(c);
      await assert.rejects(
        store.commit(
          batch({
            consumer: c,
            rows: [row(40, 'z', 2), row(41, 'z', -1)], // a negative count violates the schema
            offsets: new Map([[0, 20]]),
            snapshot: new Uint8Array([9]),
          }),
        ),
        (e: Error & { code?: string }) => e.code === 'TALLY_STORE_FAILURE',
      );
      const afterFail = await store.loadCheckpoint(c);
      assert.deepEqual([...afterFail.offsets], [...before.offsets]);
      assert.equal(afterFail.snapshot, undefined);
      assert.equal(afterFail.cycles.length, before.cycles.length);
      assert.equal(await store.count('z', T0, T0 + 60 * M), 1);
    });

    it('keeps everything across a reopen', async () => {
      store = await fx.reopen();
      assert.equal(await store.count('a', T0, T0 + 2 * M), 9);
      const cp = await store.loadCheckpoint('cp');
      assert.equal(cp.cycles.length, 2);
      assert.equal(cp.watermark, Infinity);
    });
  });
}
