/**
 * The aggregate store contract, run by every adapter (SQLite now, PostgreSQL later): the
 * AggregateSink and AggregateReader ports over one database, checked together because each
 * read observes what a commit wrote. Idempotent absolute counts, atomic commits, checkpoints
 * for exactly-once replay, and query semantics. Every test gets a fresh, empty store.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AggregateReader } from '../../src/ports/aggregate-reader.js';
import type { AggregateSink, CommitBatch } from '../../src/ports/aggregate-sink.js';
import type { DimKey, LateRecord, MinuteRow, RankedAd } from '../../src/ports/aggregates.js';

/**
 * Both ports, plus what the suite needs of the adapter beyond them: `rows` shows every row a
 * commit wrote (the reconciliation job will read through it), and whoever opened a store
 * closes it.
 */
export type ContractStore = AggregateSink &
  AggregateReader & {
    rows(fromMinute: number, toMinute: number, dim: DimKey): Promise<MinuteRow[]>;
    close(): Promise<void>;
  };

export interface AggregateStoreFixture {
  store: ContractStore;
  /** closes `store` (if still open) and opens the same storage again */
  reopen: () => Promise<ContractStore>;
  /** closes whatever is open and removes the storage */
  cleanup: () => Promise<void>;
}

/**
 * A fixture over one storage: `open` opens it (again), `remove` deletes it once every store
 * opened on it is closed.
 */
export async function reopenableFixture<S extends ContractStore>(
  open: () => Promise<S>,
  remove: () => Promise<void> | void,
): Promise<AggregateStoreFixture & { store: S }> {
  const opened: S[] = [];
  const openOne = async () => {
    const s = await open();
    opened.push(s);
    return s;
  };
  const store = await openOne();
  return {
    store,
    reopen: async () => {
      for (const s of opened) await s.close();
      return openOne();
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      await remove();
    },
  };
}

const M = 60_000;
const T0 = Date.UTC(2026, 10, 25, 10, 0);
/** minute i of the test timeline */
export const m = (i: number) => T0 + i * M;

export function batch(over: Partial<CommitBatch> = {}): CommitBatch {
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

export function row(minute: number, adId: string, count: number, dim = '*'): MinuteRow {
  return { minute: m(minute), adId, dim, count };
}

export function lateRecord(partition: number, offset: number): LateRecord {
  return {
    partition,
    offset,
    adId: `late-${partition}-${offset}`,
    timestamp: m(0) + offset,
    eventId: `e-${partition}-${offset}`,
    watermark: m(10),
    raw: JSON.stringify({ ad_id: `late-${partition}-${offset}`, n: offset }),
  };
}

const isStoreFailure = (e: unknown) =>
  (e as { code?: unknown }).code === 'TALLY_STORE_FAILURE' ? true : assert.fail(String(e));

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The reference top-N: sums, count descending, ad_id ascending by code unit (= byte order). */
function oracleTop(rows: MinuteRow[], from: number, to: number, n: number, dims: string[]) {
  const sums = new Map<string, number>();
  for (const r of rows) {
    if (r.minute >= from && r.minute < to && dims.includes(r.dim)) {
      sums.set(r.adId, (sums.get(r.adId) ?? 0) + r.count);
    }
  }
  return [...sums]
    .map(([adId, count]): RankedAd => ({ adId, count }))
    .sort((a, b) => b.count - a.count || (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0))
    .slice(0, n);
}

export function runAggregateStoreContract(
  name: string,
  make: () => Promise<AggregateStoreFixture>,
): void {
  describe(`AggregateStore contract: ${name}`, () => {
    let fx: AggregateStoreFixture;
    let store: ContractStore;
    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });
    afterEach(async () => fx.cleanup());

    describe('an empty store', () => {
      it('has an empty checkpoint', async () => {
        const cp = await store.loadCheckpoint('nobody');
        assert.deepEqual(cp, {
          seq: 0,
          snapshotSeq: 0,
          snapshotOffsets: new Map(),
          snapshotWatermark: -Infinity,
          snapshot: undefined,
          snapshotChain: [],
          cycles: [],
          offsets: new Map(),
          watermark: -Infinity,
          totals: { events: 0, duplicates: 0, late: 0 },
        });
      });

      it('answers every query with nothing', async () => {
        assert.equal(await store.count('a', -Infinity, Infinity), 0);
        assert.equal(await store.count('a', m(0), m(60)), 0);
        assert.deepEqual(await store.timeseries('a', m(0), m(60)), []);
        assert.deepEqual(await store.top(m(0), m(60), 10), []);
        assert.deepEqual(await store.rows(-Infinity, Infinity, '*'), []);
        assert.equal(await store.storedTop(1, m(1)), undefined);
        assert.deepEqual(await store.late(10), []);
        assert.deepEqual(await store.status(), { consumers: [], lateRecords: 0 });
      });
    });

    describe('commit', () => {
      it('upserts absolute counts: the same batch twice changes nothing', async () => {
        const b = batch({
          rows: [row(0, 'a', 3), row(1, 'a', 4), row(0, 'a', 2, 'country=US')],
          late: [lateRecord(0, 5)],
          top: [{ windowMinutes: 1, endMinute: m(1), ads: [{ adId: 'a', count: 3 }] }],
        });
        await store.commit(b);
        await store.commit(b);
        assert.equal(await store.count('a', m(0), m(2)), 7);
        assert.equal(await store.count('a', m(0), m(2), { dims: ['country=US'] }), 2);
        assert.equal((await store.late(10)).length, 1);
        assert.deepEqual((await store.storedTop(1, m(1)))?.ads, [{ adId: 'a', count: 3 }]);
      });

      it('keeps a list per dimension value beside the list of every event, each replaced alone', async () => {
        const us = [{ adId: 'b', count: 2 }];
        const fr = [{ adId: 'a', count: 1 }];
        await store.commit(
          batch({
            top: [
              { windowMinutes: 5, endMinute: m(5), ads: [{ adId: 'a', count: 3 }] },
              { windowMinutes: 5, endMinute: m(5), dim: 'country=US', ads: us },
              { windowMinutes: 5, endMinute: m(5), dim: 'country=FR', ads: fr },
            ],
          }),
        );
        assert.deepEqual(await store.storedTop(5, m(5), 'country=US'), {
          windowMinutes: 5,
          endMinute: m(5),
          dim: 'country=US',
          ads: us,
        });
        assert.deepEqual((await store.storedTop(5, m(5), 'country=FR'))?.ads, fr);
        assert.deepEqual(await store.storedTop(5, m(5)), {
          windowMinutes: 5,
          endMinute: m(5),
          ads: [{ adId: 'a', count: 3 }],
        });
        assert.deepEqual((await store.storedTop(5, m(5), '*'))?.ads, [{ adId: 'a', count: 3 }]);
        assert.equal(await store.storedTop(5, m(5), 'country=DE'), undefined);
        assert.equal(await store.storedTop(1, m(5), 'country=US'), undefined);
        // a correction of one value's list leaves the others as they were
        const us2 = [
          { adId: 'c', count: 4 },
          { adId: 'b', count: 2 },
        ];
        await store.commit(
          batch({ top: [{ windowMinutes: 5, endMinute: m(5), dim: 'country=US', ads: us2 }] }),
        );
        assert.deepEqual((await store.storedTop(5, m(5), 'country=US'))?.ads, us2);
        assert.deepEqual((await store.storedTop(5, m(5), 'country=FR'))?.ads, fr);
        assert.deepEqual((await store.storedTop(5, m(5)))?.ads, [{ adId: 'a', count: 3 }]);
      });

      it('replaces a count with a corrected one, never adds to it', async () => {
        await store.commit(batch({ rows: [row(0, 'a', 3)] }));
        await store.commit(batch({ rows: [row(0, 'a', 5)] }));
        assert.equal(await store.count('a', m(0), m(1)), 5);
        await store.commit(batch({ rows: [row(0, 'a', 0)] }));
        assert.equal(await store.count('a', m(0), m(1)), 0);
      });

      it('is atomic: a commit that fails midway leaves nothing of itself', async () => {
        await store.commit(
          batch({
            rows: [row(40, 'z', 1)],
            offsets: new Map([[0, 10]]),
            late: [lateRecord(0, 1)],
            top: [{ windowMinutes: 1, endMinute: m(41), ads: [{ adId: 'z', count: 1 }] }],
            stats: { events: 1, duplicates: 0, late: 1 },
          }),
        );
        const before = await store.loadCheckpoint('agg');
        const statusBefore = await store.status();
        const failing = batch({
          // good rows first, the bad one last: the failure comes after everything else
          rows: [row(40, 'z', 2), row(41, 'y', 7), row(42, 'z', -1)],
          offsets: new Map([
            [0, 20],
            [1, 5],
          ]),
          watermark: m(50),
          late: [lateRecord(0, 2)],
          top: [{ windowMinutes: 1, endMinute: m(41), ads: [{ adId: 'y', count: 7 }] }],
          snapshot: new Uint8Array([9]),
          stats: { events: 100, duplicates: 3, late: 1 },
        });
        await assert.rejects(store.commit(failing), isStoreFailure);
        assert.deepEqual(await store.loadCheckpoint('agg'), before);
        assert.deepEqual(await store.status(), statusBefore);
        assert.equal(await store.count('z', m(0), m(60)), 1);
        assert.equal(await store.count('y', m(0), m(60)), 0);
        assert.deepEqual(
          (await store.late(10)).map((l) => l.offset),
          [1],
        );
        assert.deepEqual((await store.storedTop(1, m(41)))?.ads, [{ adId: 'z', count: 1 }]);
        // the store stays usable: the corrected batch goes through
        await store.commit({ ...failing, rows: [row(40, 'z', 2), row(41, 'y', 7)] });
        assert.equal(await store.count('z', m(0), m(60)), 2);
        assert.equal((await store.loadCheckpoint('agg')).seq, 2);
      });

      it('fences: a commit expecting another seq is refused whole', async () => {
        await store.commit(batch({ expectedSeq: 0, rows: [row(0, 'a', 1)] }));
        await store.commit(batch({ expectedSeq: 1, rows: [row(0, 'a', 2)] }));
        const before = await store.loadCheckpoint('agg');
        // a zombie that still believes seq 1 is the latest
        await assert.rejects(
          store.commit(
            batch({ expectedSeq: 1, rows: [row(0, 'a', 99)], offsets: new Map([[0, 99]]) }),
          ),
          isStoreFailure,
        );
        assert.deepEqual(await store.loadCheckpoint('agg'), before);
        assert.equal(await store.count('a', m(0), m(1)), 2);
        // without expectedSeq no check is made
        await store.commit(batch({ rows: [row(0, 'a', 3)] }));
        assert.equal((await store.loadCheckpoint('agg')).seq, 3);
      });

      it('commits a large batch whole', async () => {
        const rows = Array.from({ length: 20_000 }, (_, i) => row(i % 10, `ad-${i}`, 1 + (i % 7)));
        await store.commit(batch({ rows }));
        const expected = rows.reduce((s, r) => s + r.count, 0);
        const all = await store.rows(-Infinity, Infinity, '*');
        assert.equal(all.length, rows.length);
        assert.equal(
          all.reduce((s, r) => s + r.count, 0),
          expected,
        );
      });
    });

    describe('checkpoint', () => {
      const offsets = (n: number) =>
        new Map([
          [0, n],
          [1, 2 * n],
        ]);

      it('numbers commits and keeps every cycle until a snapshot', async () => {
        await store.commit(batch({ offsets: offsets(1), watermark: m(1) }));
        await store.commit(batch({ offsets: offsets(2), watermark: m(2) }));
        const cp = await store.loadCheckpoint('agg');
        assert.equal(cp.seq, 2);
        assert.equal(cp.snapshot, undefined);
        assert.equal(cp.snapshotSeq, 0);
        assert.deepEqual(cp.snapshotOffsets, new Map());
        assert.deepEqual(cp.cycles, [
          { seq: 1, offsets: offsets(1), watermark: m(1) },
          { seq: 2, offsets: offsets(2), watermark: m(2) },
        ]);
        assert.deepEqual(cp.offsets, offsets(2));
        assert.equal(cp.watermark, m(2));
      });

      it('round-trips a snapshot and prunes the cycles it reflects', async () => {
        await store.commit(batch({ offsets: offsets(1), watermark: m(1) }));
        await store.commit(
          batch({ offsets: offsets(2), watermark: m(2), snapshot: new Uint8Array([1, 2, 3]) }),
        );
        let cp = await store.loadCheckpoint('agg');
        assert.ok(cp.snapshot instanceof Uint8Array);
        assert.deepEqual([...(cp.snapshot ?? [])], [1, 2, 3]);
        assert.equal(cp.snapshotSeq, 2);
        assert.deepEqual(cp.snapshotOffsets, offsets(2));
        assert.equal(cp.snapshotWatermark, m(2));
        assert.deepEqual(cp.cycles, []);

        await store.commit(batch({ offsets: offsets(3), watermark: m(3) }));
        await store.commit(batch({ offsets: offsets(4), watermark: Infinity }));
        cp = await store.loadCheckpoint('agg');
        assert.equal(cp.seq, 4);
        assert.deepEqual(cp.cycles, [
          { seq: 3, offsets: offsets(3), watermark: m(3) },
          { seq: 4, offsets: offsets(4), watermark: Infinity },
        ]);
        assert.deepEqual(cp.offsets, offsets(4));
        assert.equal(cp.watermark, Infinity);

        // a newer snapshot replaces the older one
        const big = new Uint8Array(300_000).map((_, i) => i & 0xff);
        await store.commit(batch({ offsets: offsets(5), watermark: m(5), snapshot: big }));
        cp = await store.loadCheckpoint('agg');
        assert.equal(cp.snapshotSeq, 5);
        assert.deepEqual(cp.snapshot, big);
        assert.deepEqual(cp.cycles, []);
      });

      it('keeps an incremental chain: a base, its deltas in order, a new base replaces it', async () => {
        const piece = (base: boolean, ...chunks: number[][]) => ({
          base,
          chunks: chunks.map((c) => new Uint8Array(c)),
        });
        const chainOf = async () =>
          (await store.loadCheckpoint('agg')).snapshotChain.map((p) => p.map((c) => [...c]));
        await assert.rejects(
          store.commit(batch({ offsets: offsets(1), snapshotPiece: piece(false, [1]) })),
          'a delta without a base is refused',
        );
        await store.commit(
          batch({ offsets: offsets(1), watermark: m(1), snapshotPiece: piece(true, [1], [2, 3]) }),
        );
        await store.commit(batch({ offsets: offsets(2), watermark: m(2) }));
        await store.commit(
          batch({ offsets: offsets(3), watermark: m(3), snapshotPiece: piece(false, [4]) }),
        );
        await store.commit(
          batch({ offsets: offsets(4), watermark: m(4), snapshotPiece: piece(false, [5], [6]) }),
        );
        await store.commit(batch({ offsets: offsets(5), watermark: m(5) }));
        let cp = await store.loadCheckpoint('agg');
        assert.equal(cp.snapshot, undefined);
        assert.equal(cp.snapshotSeq, 4);
        assert.deepEqual(cp.snapshotOffsets, offsets(4));
        assert.deepEqual(
          cp.cycles.map((c) => c.seq),
          [5],
        );
        assert.deepEqual(await chainOf(), [[[1], [2, 3]], [[4]], [[5], [6]]]);
        await store.commit(
          batch({ offsets: offsets(6), watermark: m(6), snapshotPiece: piece(true, [7]) }),
        );
        assert.deepEqual(await chainOf(), [[[7]]]);
        // a whole-state snapshot replaces the chain too
        await store.commit(
          batch({ offsets: offsets(7), watermark: m(7), snapshot: new Uint8Array([8]) }),
        );
        cp = await store.loadCheckpoint('agg');
        assert.deepEqual(cp.snapshotChain, []);
        assert.deepEqual([...(cp.snapshot ?? [])], [8]);
      });

      it('records all offsets in each cycle, also partitions the batch did not name', async () => {
        await store.commit(batch({ offsets: offsets(1) }));
        await store.commit(batch({ offsets: new Map([[1, 7]]) }));
        const cp = await store.loadCheckpoint('agg');
        const expected = new Map([
          [0, 1],
          [1, 7],
        ]);
        assert.deepEqual(cp.offsets, expected);
        assert.deepEqual(cp.cycles[1]?.offsets, expected);
      });

      it('keeps the watermark -Infinity until one is committed', async () => {
        await store.commit(batch({ watermark: -Infinity }));
        const cp = await store.loadCheckpoint('agg');
        assert.equal(cp.watermark, -Infinity);
        assert.equal(cp.cycles[0]?.watermark, -Infinity);
      });

      it('accumulates totals once per commit', async () => {
        await store.commit(batch({ stats: { events: 5, duplicates: 1, late: 0 } }));
        await store.commit(batch({ stats: { events: 7, duplicates: 0, late: 2 } }));
        await store.commit(batch({ snapshot: new Uint8Array([1]) })); // no stats: no change
        assert.deepEqual((await store.loadCheckpoint('agg')).totals, {
          events: 12,
          duplicates: 1,
          late: 2,
        });
      });

      it('keeps consumers apart', async () => {
        await store.commit(
          batch({
            consumer: 'a',
            offsets: offsets(1),
            stats: { events: 1, duplicates: 0, late: 0 },
          }),
        );
        await store.commit(
          batch({ consumer: 'b', offsets: offsets(9), snapshot: new Uint8Array([2]) }),
        );
        const a = await store.loadCheckpoint('a');
        const b = await store.loadCheckpoint('b');
        assert.equal(a.seq, 1);
        assert.equal(a.snapshot, undefined);
        assert.deepEqual(a.offsets, offsets(1));
        assert.deepEqual(a.totals.events, 1);
        assert.equal(b.seq, 1);
        assert.deepEqual(b.offsets, offsets(9));
        assert.deepEqual(b.totals.events, 0);
        const status = await store.status();
        assert.deepEqual(
          status.consumers.map((c) => [c.consumer, c.seq, c.snapshotSeq]),
          [
            ['a', 1, 0],
            ['b', 1, 1],
          ],
        );
      });

      it('survives a reopen, all of it', async () => {
        await store.commit(
          batch({
            rows: [row(0, 'a', 3), row(0, 'a', 1, 'country=US')],
            top: [{ windowMinutes: 1, endMinute: m(1), ads: [{ adId: 'a', count: 3 }] }],
            late: [lateRecord(0, 1)],
            offsets: offsets(1),
            watermark: m(1),
            snapshot: new Uint8Array([4, 5]),
            stats: { events: 3, duplicates: 1, late: 1 },
          }),
        );
        await store.commit(batch({ offsets: offsets(2), watermark: m(2) }));
        const cp = await store.loadCheckpoint('agg');
        const status = await store.status();
        store = await fx.reopen();
        assert.deepEqual(await store.loadCheckpoint('agg'), cp);
        assert.deepEqual(await store.status(), status);
        assert.equal(await store.count('a', m(0), m(1)), 3);
        assert.equal(await store.count('a', m(0), m(1), { dims: ['country=US'] }), 1);
        assert.deepEqual((await store.storedTop(1, m(1)))?.ads, [{ adId: 'a', count: 3 }]);
        assert.deepEqual(await store.late(10), [lateRecord(0, 1)]);
        // and goes on numbering where it was
        await store.commit(batch({ offsets: offsets(3) }));
        assert.equal((await store.loadCheckpoint('agg')).seq, 3);
      });
    });

    describe('count and timeseries', () => {
      beforeEach(async () => {
        await store.commit(
          batch({
            rows: [
              row(10, 'r', 1),
              row(11, 'r', 10),
              row(12, 'r', 100),
              row(10, 'r', 1, 'country=US'),
              row(11, 'r', 6, 'country=US'),
              row(11, 'r', 4, 'country=CA'),
              row(12, 'r', 100, 'country=CA'),
              row(11, 'other', 1000),
            ],
          }),
        );
      });

      it('sums the minutes of a half-open range', async () => {
        assert.equal(await store.count('r', m(10), m(13)), 111);
        assert.equal(await store.count('r', m(11), m(12)), 10);
        assert.equal(await store.count('r', m(10), m(10)), 0);
        assert.equal(await store.count('r', m(12), m(10)), 0);
        assert.equal(await store.count('r', m(13), m(20)), 0);
        assert.equal(await store.count('r', -Infinity, Infinity), 111);
        assert.equal(await store.count('nobody', m(0), m(60)), 0);
      });

      it('takes minute m when from ≤ m < to, also for bounds inside a minute', async () => {
        assert.equal(await store.count('r', m(10) + 1, m(12) + 1), 110);
        assert.equal(await store.count('r', m(9) + 1, m(11) - 1), 1);
      });

      it('filters on dimension values, a union of values of one attribute', async () => {
        assert.equal(await store.count('r', m(10), m(13), { dims: ['country=US'] }), 7);
        assert.equal(
          await store.count('r', m(10), m(13), { dims: ['country=US', 'country=CA'] }),
          111,
        );
        assert.equal(
          await store.count('r', m(10), m(13), { dims: ['country=US', 'country=US'] }),
          7,
        );
        assert.equal(await store.count('r', m(10), m(13), { dims: ['country=FR'] }), 0);
        assert.equal(await store.count('r', m(10), m(13), { dims: [] }), 0);
      });

      it('gives a point per minute with rows, ascending', async () => {
        assert.deepEqual(await store.timeseries('r', m(0), m(60)), [
          { minute: m(10), count: 1 },
          { minute: m(11), count: 10 },
          { minute: m(12), count: 100 },
        ]);
        assert.deepEqual(await store.timeseries('r', m(11), m(12)), [{ minute: m(11), count: 10 }]);
        assert.deepEqual(
          await store.timeseries('r', m(0), m(60), { dims: ['country=US', 'country=CA'] }),
          [
            { minute: m(10), count: 1 },
            { minute: m(11), count: 10 },
            { minute: m(12), count: 100 },
          ],
        );
        assert.deepEqual(await store.timeseries('r', m(11), m(11)), []);
      });

      it('lists the rows of one dimension value in key order', async () => {
        assert.deepEqual(await store.rows(m(11), m(12), '*'), [
          row(11, 'other', 1000),
          row(11, 'r', 10),
        ]);
        assert.deepEqual(await store.rows(-Infinity, Infinity, 'country=CA'), [
          row(11, 'r', 4, 'country=CA'),
          row(12, 'r', 100, 'country=CA'),
        ]);
      });
    });

    describe('top', () => {
      it('ranks exactly, ties by ad_id ascending in byte order', async () => {
        await store.commit(
          batch({
            rows: [
              row(20, 'b', 5),
              row(20, 'a', 5),
              row(21, 'c', 4),
              row(21, 'a', 1),
              row(20, 'B', 3),
              row(20, 'ad10', 3),
              row(20, 'ad9', 3),
              row(20, 'b', 5, 'country=US'),
              row(20, 'a', 2, 'country=CA'),
              row(21, 'c', 4, 'country=CA'),
            ],
          }),
        );
        assert.deepEqual(await store.top(m(20), m(22), 3), [
          { adId: 'a', count: 6 },
          { adId: 'b', count: 5 },
          { adId: 'c', count: 4 },
        ]);
        assert.deepEqual(await store.top(m(20), m(21), 10), [
          { adId: 'a', count: 5 },
          { adId: 'b', count: 5 },
          { adId: 'B', count: 3 },
          { adId: 'ad10', count: 3 },
          { adId: 'ad9', count: 3 },
        ]);
        assert.deepEqual(await store.top(m(20), m(22), 5, { dims: ['country=CA'] }), [
          { adId: 'c', count: 4 },
          { adId: 'a', count: 2 },
        ]);
        assert.deepEqual(await store.top(m(20), m(22), 5, { dims: ['country=CA', 'country=US'] }), [
          { adId: 'b', count: 5 },
          { adId: 'c', count: 4 },
          { adId: 'a', count: 2 },
        ]);
        assert.deepEqual(await store.top(m(21), m(21), 5), []);
        assert.deepEqual(await store.top(m(20), m(22), 0), []);
        assert.deepEqual(await store.top(m(22), m(30), 5), []);
      });

      it('agrees with a reference ranking on random data', async () => {
        const rand = rng(42);
        const dims = ['*', 'country=US', 'country=CA', 'country=DE'];
        const rows: MinuteRow[] = [];
        for (let minute = 0; minute < 12; minute++) {
          for (let ad = 0; ad < 300; ad++) {
            if (rand() < 0.4) continue;
            for (const dim of dims) {
              if (dim === '*' || rand() < 0.5) {
                rows.push(row(minute, `ad-${ad}`, Math.floor(rand() * 5), dim));
              }
            }
          }
        }
        await store.commit(batch({ rows }));
        for (const [from, to, n, filter] of [
          [0, 1, 10, ['*']],
          [0, 12, 50, ['*']],
          [3, 7, 25, ['country=US']],
          [2, 11, 40, ['country=US', 'country=DE']],
          [0, 12, 1000, ['country=CA']],
        ] as const) {
          assert.deepEqual(
            await store.top(m(from), m(to), n, { dims: [...filter] }),
            oracleTop(rows, m(from), m(to), n, [...filter]),
            `top ${n} over [${from}, ${to}) ${filter.join(',')}`,
          );
        }
      });

      it('stores the precomputed lists, replacing a corrected one', async () => {
        const top = { windowMinutes: 5, endMinute: m(30), ads: [{ adId: 'x', count: 9 }] };
        await store.commit(batch({ top: [top] }));
        const corrected = [
          { adId: 'y', count: 10 },
          { adId: 'x', count: 9 },
        ];
        await store.commit(batch({ top: [{ ...top, ads: corrected }] }));
        assert.deepEqual(await store.storedTop(5, m(30)), { ...top, ads: corrected });
        assert.equal(await store.storedTop(1, m(30)), undefined);
        assert.equal(await store.storedTop(5, m(31)), undefined);
      });
    });

    describe('late records', () => {
      it('keeps each once, whatever is replayed, and pages them by (partition, offset)', async () => {
        const records = [lateRecord(1, 100), lateRecord(0, 7), lateRecord(1, 3), lateRecord(0, 9)];
        await store.commit(batch({ late: records }));
        await store.commit(batch({ late: records.slice(1, 3) }));
        const order = [lateRecord(0, 7), lateRecord(0, 9), lateRecord(1, 3), lateRecord(1, 100)];
        assert.deepEqual(await store.late(10), order);
        const page1 = await store.late(2);
        assert.deepEqual(page1, order.slice(0, 2));
        const last = page1[1]!;
        const page2 = await store.late(2, { partition: last.partition, offset: last.offset });
        assert.deepEqual(page2, order.slice(2));
        assert.deepEqual(await store.late(2, { partition: 1, offset: 100 }), []);
        assert.deepEqual(await store.late(0), []);
        assert.equal((await store.status()).lateRecords, 4);
      });
    });

    describe('status', () => {
      it('shows every consumer with its seq, offsets, watermark and totals', async () => {
        await store.commit(
          batch({
            offsets: new Map([[2, 30]]),
            watermark: m(3),
            stats: { events: 9, duplicates: 2, late: 1 },
            late: [lateRecord(2, 1)],
          }),
        );
        assert.deepEqual(await store.status(), {
          consumers: [
            {
              consumer: 'agg',
              seq: 1,
              snapshotSeq: 0,
              snapshotOffsets: new Map(),
              offsets: new Map([[2, 30]]),
              watermark: m(3),
              totals: { events: 9, duplicates: 2, late: 1 },
            },
          ],
          lateRecords: 1,
        });
      });
    });

    describe('close', () => {
      it('is idempotent, and later calls fail with TALLY_STORE_FAILURE', async () => {
        await store.close();
        await store.close();
        await assert.rejects(store.count('a', m(0), m(1)), isStoreFailure);
        await assert.rejects(store.commit(batch()), isStoreFailure);
        await assert.rejects(store.loadCheckpoint('agg'), isStoreFailure);
      });
    });
  });
}
