import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClickAggregator } from '../../../src/core/operator/aggregator.js';
import { encodeEvents } from '../../../src/core/event/codec.js';
import { isTallyError } from '../../../src/core/errors.js';
import { murmur3x86_32 } from '../../../src/core/event/hash.js';
import type { MinuteRow } from '../../../src/core/aggregate/types.js';
import { sortRows } from './oracle.js';
import { click, config, MIN, T0 } from './helpers.js';
import { ByteReader, ByteWriter } from '../../../src/core/operator/binary.js';
import { readCountMap, readPairMap } from '../../../src/core/operator/snapshot.js';

const L = 300_000;

function rowsOf(agg: ClickAggregator): MinuteRow[] {
  return sortRows(agg.takeOutput().rows);
}

test('lateness boundary: minute + 60 000 + allowedLateness ≤ W is late, one ms less is counted', () => {
  const agg = new ClickAggregator(config({ topWindows: [] }), 1, 0);
  // W exactly at the boundary of minute T0: T0 + 60 000 + lateness
  agg.onWatermark(T0 + MIN + L);
  agg.takeOutput();
  agg.onEvents(
    0,
    [click('a', T0 + 59_999, { eventId: 'late' }), click('a', T0 + MIN, { eventId: 'ok' })],
    7,
    0,
  );
  const out = agg.takeOutput();
  assert.deepEqual(out.stats, { events: 2, duplicates: 0, late: 1 });
  assert.equal(out.late.length, 1);
  assert.equal(out.late[0]!.offset, 7);
  assert.equal(out.late[0]!.partition, 0);
  assert.equal(out.late[0]!.watermark, T0 + MIN + L);
  assert.deepEqual(out.late[0]!.event, click('a', T0 + 59_999, { eventId: 'late' }));
  // the other event corrects its (closed) minute at the next watermark
  agg.onWatermark(T0 + MIN + L);
  assert.deepEqual(rowsOf(agg), [{ minute: T0 + MIN, adId: 'a', dim: '*', count: 1 }]);
});

test('a minute is emitted when the watermark reaches its end, with absolute counts per dimension', () => {
  const agg = new ClickAggregator(config({ dimensions: ['country', 'ip'] }), 1, 0);
  agg.onEvents(
    0,
    [
      click('a', T0 + 1, { country: 'US', ip: '10.0.0.1' }),
      click('a', T0 + 2, { country: 'US' }),
      click('b', T0 + 3, { country: 'FR' }),
      click('a', T0 + MIN, { country: 'US' }),
    ],
    0,
    0,
  );
  agg.onWatermark(T0 + MIN - 1);
  assert.deepEqual(agg.takeOutput().rows, []);
  agg.onWatermark(T0 + MIN);
  assert.deepEqual(rowsOf(agg), [
    { minute: T0, adId: 'a', dim: '*', count: 2 },
    { minute: T0, adId: 'a', dim: 'country=US', count: 2 },
    { minute: T0, adId: 'a', dim: 'ip=10.0.0.1', count: 1 },
    { minute: T0, adId: 'b', dim: '*', count: 1 },
    { minute: T0, adId: 'b', dim: 'country=FR', count: 1 },
  ]);
});

test('an event within the lateness re-emits only the changed rows, with absolute counts', () => {
  const agg = new ClickAggregator(config({ topWindows: [] }), 1, 0);
  agg.onEvents(
    0,
    [click('a', T0 + 1, { country: 'US' }), click('b', T0 + 2, { country: 'US' })],
    0,
    0,
  );
  agg.onWatermark(T0 + 2 * MIN);
  assert.equal(agg.takeOutput().rows.length, 4);
  agg.onEvents(0, [click('a', T0 + 3, { country: 'US' })], 2, 0);
  agg.onWatermark(T0 + 2 * MIN);
  assert.deepEqual(rowsOf(agg), [
    { minute: T0, adId: 'a', dim: '*', count: 2 },
    { minute: T0, adId: 'a', dim: 'country=US', count: 2 },
  ]);
  agg.onWatermark(T0 + 3 * MIN);
  assert.deepEqual(agg.takeOutput().rows, [], 'nothing changed: nothing re-emitted');
});

test('duplicates count once within the horizon, again after it', () => {
  const agg = new ClickAggregator(
    config({ dedupHorizonMs: 10 * MIN, allowedLatenessMs: 60 * MIN }),
    1,
    0,
  );
  const ev = click('a', T0, { eventId: 'e1' });
  agg.onEvents(0, [ev, ev, { ...ev, timestamp: T0 + 5 }], 0, 0);
  assert.deepEqual(agg.takeOutput().stats, { events: 1, duplicates: 2, late: 0 });
  // the same event id for another ad is another event
  agg.onEvents(0, [click('b', T0, { eventId: 'e1' })], 3, 0);
  assert.deepEqual(agg.takeOutput().stats, { events: 1, duplicates: 0, late: 0 });
  agg.onWatermark(T0 + 10 * MIN - 1);
  agg.onEvents(0, [ev], 4, 0);
  assert.equal(agg.takeOutput().stats.duplicates, 1, 'expiry T0 + 10 min > W');
  agg.onWatermark(T0 + 10 * MIN);
  agg.onEvents(0, [ev], 5, 0);
  assert.deepEqual(agg.takeOutput().stats, { events: 1, duplicates: 0, late: 0 }, 'expired at W');
});

test('top N per window and end, ties by ad_id, re-emitted after a correction', () => {
  const agg = new ClickAggregator(config({ topN: 2, topWindows: [1, 2], dimensions: [] }), 1, 0);
  agg.onEvents(
    0,
    [click('b', T0 + 1), click('c', T0 + 2), click('a', T0 + 3), click('a', T0 + MIN + 1)],
    0,
    0,
  );
  agg.onWatermark(T0 + 2 * MIN);
  const a1 = { adId: 'a', count: 1 };
  assert.deepEqual(agg.takeOutput().top, [
    { windowMinutes: 1, endMinute: T0 + MIN, ads: [a1, { adId: 'b', count: 1 }] },
    { windowMinutes: 2, endMinute: T0 + MIN, ads: [a1, { adId: 'b', count: 1 }] },
    { windowMinutes: 1, endMinute: T0 + 2 * MIN, ads: [a1] },
    {
      windowMinutes: 2,
      endMinute: T0 + 2 * MIN,
      ads: [
        { adId: 'a', count: 2 },
        { adId: 'b', count: 1 },
      ],
    },
  ]);
  // c gets two late-but-allowed clicks in minute T0: every closed window holding T0 changes
  agg.onEvents(0, [click('c', T0 + 4), click('c', T0 + 5)], 4, 0);
  agg.onWatermark(T0 + 2 * MIN);
  const c3 = { adId: 'c', count: 3 };
  assert.deepEqual(agg.takeOutput().top, [
    { windowMinutes: 1, endMinute: T0 + MIN, ads: [c3, a1] },
    { windowMinutes: 2, endMinute: T0 + MIN, ads: [c3, a1] },
    { windowMinutes: 2, endMinute: T0 + 2 * MIN, ads: [c3, { adId: 'a', count: 2 }] },
  ]);
});

test('a drain (W = +Infinity) closes every window that holds data, and only those', () => {
  const agg = new ClickAggregator(config({ topWindows: [60], dimensions: [] }), 2, 0);
  agg.onEvents(0, [click('a', T0)], 0, 0);
  agg.onEvents(1, [click('b', T0 + 1_000 * MIN)], 0, 0);
  agg.onWatermark(Infinity);
  const out = agg.takeOutput();
  assert.equal(out.rows.length, 2);
  assert.equal(out.top.length, 120);
  assert.deepEqual(out.top[0], {
    windowMinutes: 60,
    endMinute: T0 + MIN,
    ads: [{ adId: 'a', count: 1 }],
  });
  assert.equal(agg.memoryStats().panes, 0, 'everything is final');
  agg.onEvents(0, [click('a', T0 + 2_000 * MIN)], 1, 0);
  assert.equal(agg.takeOutput().stats.late, 1, 'after a drain every event is late');
});

test('onRecords consumes framed records and reports the next offset', () => {
  const agg = new ClickAggregator(config(), 3, 0);
  const data = encodeEvents([click('a', T0), click('b', T0 + 1), click('c', T0 + 2)]);
  assert.equal(agg.onRecords(2, data, 40, 5), 3);
  assert.equal(agg.partitionStatus(5)[2]!.nextOffset, 43);
  assert.equal(agg.onRecords(2, new Uint8Array(0), 43, 6), 0);
  assert.equal(agg.partitionStatus(6)[2]!.lastArrival, 5, 'an empty read is not an arrival');
  assert.throws(
    () => agg.onRecords(3, data, 0, 0),
    (e) => isTallyError(e),
  );
  assert.throws(
    () => agg.onRecords(0, data.subarray(0, data.length - 1), 0, 0),
    (e) => isTallyError(e) && e.code === 'TALLY_LOG_CORRUPT',
  );
  // the records before the corrupt one were applied and accounted for
  assert.equal(agg.partitionStatus(0)[0]!.nextOffset, 2);
});

test('restore refuses bad bytes with TALLY_SNAPSHOT_INVALID', () => {
  const cfg = config();
  const agg = new ClickAggregator(cfg, 2, 0);
  agg.onEvents(0, [click('a', T0, { country: 'US' })], 0, 0);
  const snap = agg.snapshot();
  const invalid = (e: unknown): boolean => isTallyError(e) && e.code === 'TALLY_SNAPSHOT_INVALID';
  assert.throws(() => ClickAggregator.restore(cfg, 2, new Uint8Array(3), 0), invalid);
  assert.throws(
    () => ClickAggregator.restore(cfg, 2, snap.subarray(0, snap.length - 9), 0),
    invalid,
  );
  const flipped = snap.slice();
  flipped[40] = flipped[40]! ^ 1;
  assert.throws(() => ClickAggregator.restore(cfg, 2, flipped, 0), invalid);
  assert.throws(() => ClickAggregator.restore(cfg, 3, snap, 0), invalid, 'other partition count');
  assert.throws(
    () => ClickAggregator.restore(config({ topN: 5 }), 2, snap, 0),
    invalid,
    'other config',
  );
  // the delay and idle timeout only steer computeWatermark: they may change
  const ok = ClickAggregator.restore(config({ watermarkDelayMs: 1 }), 2, snap, 0);
  ok.onWatermark(Infinity);
  assert.equal(ok.takeOutput().rows.length, 2);
});

test('count maps read from a snapshot refuse a repeated key, out of range keys and counts', () => {
  const invalid = (e: unknown): boolean => isTallyError(e) && e.code === 'TALLY_SNAPSHOT_INVALID';
  const map = (keys: number[], counts: number[], second?: number[]) => {
    const w = new ByteWriter();
    w.u32(keys.length);
    for (const k of keys) w.i32(k);
    if (second !== undefined) for (const k of second) w.i32(k);
    for (const c of counts) w.i32(c);
    w.u32(0);
    const bytes = w.view8().slice();
    return new ByteReader(bytes, bytes.length);
  };
  assert.equal(readCountMap(map([3, 1, 2], [1, 2, 3]), 4).get(1), 2);
  assert.throws(() => readCountMap(map([3, 1, 3], [1, 2, 3]), 4), invalid, 'repeated');
  assert.throws(() => readCountMap(map([3, 4], [1, 2]), 4), invalid, 'beyond the ads');
  assert.throws(() => readCountMap(map([3, 1], [1, 0]), 4), invalid, 'a zero count');
  assert.equal(readPairMap(map([3, 3], [1, 2], [0, 1]), 4, 2).get(3, 1), 2);
  assert.throws(() => readPairMap(map([3, 3], [1, 2], [1, 1]), 4, 2), invalid, 'repeated');
  // after a refusal the next map reads clean (the check leaves nothing behind)
  assert.equal(readCountMap(map([3, 1], [5, 6]), 4).countAt(0), 5);
});

/** A version 3 piece as version 1 wrote it: the whole slot array in a base, records in a delta's header. */
function asVersion1(chunks: Uint8Array[]): Uint8Array[] {
  const dir = new DataView(chunks[0]!.buffer, chunks[0]!.byteOffset, 12);
  const nHeader = dir.getUint32(0, true);
  assert.equal(dir.getUint32(8, true), 0, 'version 3: no bitmap');
  assert.equal(nHeader, 1, 'a small piece has one header chunk');
  const header = chunks[1]!;
  const slotChunks = chunks.slice(2);
  const base = header[6] === 0;
  let body = header.subarray(0, header.length - 4);
  let slots: Uint8Array[] = [];
  if (base) slots = [Buffer.concat(slotChunks)];
  else body = Buffer.concat([body, ...slotChunks]);
  const v1 = new Uint8Array(body.length + 4);
  v1.set(body);
  const dv = new DataView(v1.buffer);
  dv.setUint16(4, 1, true);
  dv.setUint32(body.length, murmur3x86_32(v1, 0, body.length), true);
  const dir1 = new Uint8Array(8);
  new DataView(dir1.buffer).setUint32(0, 1, true);
  new DataView(dir1.buffer).setUint32(4, slots.length, true);
  return [dir1, v1, ...slots];
}

/** A version 3 piece as version 2 wrote it: a base's occupied slots only, after their bitmap. */
function asVersion2(chunks: Uint8Array[]): Uint8Array[] {
  const dir = new DataView(chunks[0]!.buffer, chunks[0]!.byteOffset, 12);
  assert.equal(dir.getUint32(0, true), 1, 'a small piece has one header chunk');
  const header = chunks[1]!.slice();
  new DataView(header.buffer).setUint16(4, 2, true);
  const body = header.length - 4;
  new DataView(header.buffer).setUint32(body, murmur3x86_32(header, 0, body), true);
  if (header[6] !== 0) return [chunks[0]!, header, ...chunks.slice(2)];
  const raw = Buffer.concat(chunks.slice(2));
  const cap = raw.length / 24;
  const bitmap = new Uint8Array(Math.ceil(cap / 32) * 4);
  const packed: Uint8Array[] = [];
  for (let s = 0; s < cap; s++) {
    const slot = raw.subarray(s * 24, s * 24 + 24);
    if (slot.every((b) => b === 0)) continue;
    bitmap[s >>> 3]! |= 1 << (s & 7);
    packed.push(slot);
  }
  const dir2 = new Uint8Array(12);
  const dv2 = new DataView(dir2.buffer);
  dv2.setUint32(0, 1, true);
  dv2.setUint32(4, 2, true);
  dv2.setUint32(8, 1, true);
  return [dir2, header, bitmap, Buffer.concat(packed)];
}

/**
 * A piece as a store hands it after reading its file: every chunk a view of one buffer, each
 * at a multiple of 8, here with the header in two chunks (as a header over 64 MiB is).
 */
function backToBack(chunks: Uint8Array[]): Uint8Array[] {
  const dir = new Uint8Array(chunks[0]!);
  const dv = new DataView(dir.buffer);
  assert.equal(dv.getUint32(0, true), 1, 'a small piece has one header chunk');
  dv.setUint32(0, 2, true);
  const header = chunks[1]!;
  const half = (header.length >> 4) * 8; // the first header chunk a multiple of 8 long
  const parts = [dir, header.subarray(0, half), header.subarray(half), ...chunks.slice(2)];
  const pad = (n: number) => Math.ceil(n / 8) * 8;
  const all = new Uint8Array(parts.reduce((n, c) => n + pad(c.length), 0));
  let at = 0;
  return parts.map((c) => {
    all.set(c, at);
    const view = all.subarray(at, at + c.length);
    at += pad(c.length);
    return view;
  });
}

test('version 1 and 2 chains (and a version 2 base with version 3 deltas) still restore', () => {
  const cfg = config({ dedupHorizonMs: 10 * MIN });
  const agg = new ClickAggregator(cfg, 2, 0);
  const events = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) =>
      click(`ad-${(from + i) % 37}`, T0 + (from + i) * 1000, { eventId: `e${(from + i) % 150}` }),
    );
  agg.onEvents(0, events(0, 200), 0, 0);
  agg.onWatermark(T0 + 2 * MIN);
  agg.takeOutput();
  const base = agg.snapshotPiece(0.5, true).chunks.map((c) => c.slice());
  agg.onEvents(1, events(200, 300), 0, 0);
  agg.onWatermark(T0 + 4 * MIN);
  agg.takeOutput();
  const delta = agg.snapshotPiece(1000).chunks.map((c) => c.slice());
  const v3 = ClickAggregator.restoreChain(cfg, 2, [base, delta], 0);
  const v2 = ClickAggregator.restoreChain(cfg, 2, [asVersion2(base), asVersion2(delta)], 0);
  const mixed = ClickAggregator.restoreChain(cfg, 2, [asVersion2(base), delta], 0);
  const v1 = ClickAggregator.restoreChain(cfg, 2, [asVersion1(base), asVersion1(delta)], 0);
  // and read in place, as a store hands its own fresh read: header chunks back to back in one
  // buffer are not copied together, the slot array becomes the table
  const inPlace = ClickAggregator.restoreChain(
    cfg,
    2,
    [backToBack(base), backToBack(delta)],
    0,
    {},
    true,
  );
  // restored twice from the same chunks, not owned: each has a table of its own
  const again = ClickAggregator.restoreChain(cfg, 2, [base, delta], 0);
  assert.deepEqual(v1.memoryStats().dedupEntries, agg.memoryStats().dedupEntries);
  const more = events(480, 100); // duplicates of remembered ids among them
  for (const a of [agg, v1, v2, v3, mixed, inPlace, again]) {
    a.onEvents(0, more, 200, 0);
    a.onWatermark(Infinity);
  }
  const want = rowsOf(agg);
  for (const a of [v1, v2, v3, mixed, inPlace, again]) assert.deepEqual(rowsOf(a), want);
});

test('a snapshot piece encoded in steps has the bytes of one encoded at once', () => {
  const cfg = config({ dedupHorizonMs: 10 * MIN });
  const [a, b] = [new ClickAggregator(cfg, 2, 0), new ClickAggregator(cfg, 2, 0)];
  const countries = ['US', 'DE', 'JP'];
  // more ads than one step encodes, so the steps cut through the ads
  const events = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) =>
      click(`ad-${from + i}`, T0 + ((from + i) % 180) * 1000, {
        eventId: `e${from + i}`,
        country: countries[(from + i) % 3]!,
      }),
    );
  const stepped = (agg: ClickAggregator, ratio: number, base: boolean) => {
    const steps = agg.snapshotPieceSteps(ratio, base);
    let yields = 0;
    let r = steps.next();
    for (; r.done !== true; r = steps.next()) yields++;
    return { piece: r.value, yields };
  };
  for (const agg of [a, b]) {
    agg.onEvents(0, events(0, 70_000), 0, 0);
    agg.onWatermark(T0 + 2 * MIN);
    agg.takeOutput();
  }
  const base = stepped(b, 0.5, true);
  assert.ok(base.yields > 2, `${base.yields} steps`);
  assert.deepEqual(base.piece, a.snapshotPiece(0.5, true));
  // the stepped piece marked the state saved as the whole one did: the next deltas match
  for (const agg of [a, b]) {
    agg.onEvents(1, events(70_000, 500), 0, 0);
    agg.onWatermark(T0 + 4 * MIN);
    agg.takeOutput();
  }
  const delta = stepped(b, 1000, false);
  assert.equal(delta.piece.base, false);
  assert.deepEqual(delta.piece, a.snapshotPiece(1000));
});
