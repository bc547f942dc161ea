/**
 * The EventLog contract, run by every adapter (embedded log, Kafka). Records are built from
 * the log's framing only (`[u32 LE length][bytes]`, random bytes inside), not the core codec.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTallyError } from '../../src/core/errors.js';
import type { EventLog } from '../../src/ports/event-log.js';

export interface EventLogFixture {
  log: EventLog;
  /** closes the log and opens it again over the same storage */
  reopen?: () => Promise<EventLog>;
  /** closes whatever instance is current and removes the storage */
  cleanup: () => Promise<void>;
}

/** A small seeded PRNG (mulberry32), so a failing case can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInt(rnd: () => number, min: number, max: number): number {
  return min + Math.floor(rnd() * (max - min + 1));
}

export function randomBytes(rnd: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Concatenates records in the log's framing: `[u32 LE length][bytes]` each. */
export function frameRecords(records: readonly Uint8Array[]): Uint8Array {
  const total = records.reduce((n, r) => n + 4 + r.byteLength, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let pos = 0;
  for (const r of records) {
    view.setUint32(pos, r.byteLength, true);
    out.set(r, pos + 4);
    pos += 4 + r.byteLength;
  }
  return out;
}

/** Splits framed data back into records, failing unless it is whole records exactly. */
export function splitRecords(data: Uint8Array): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < data.byteLength) {
    assert.ok(data.byteLength - pos >= 4, `a cut length prefix at byte ${pos}`);
    const len = view.getUint32(pos, true);
    assert.ok(pos + 4 + len <= data.byteLength, `a cut record at byte ${pos}`);
    out.push(data.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/** `n` random records of 0..maxBytes bytes. */
export function randomRecords(rnd: () => number, n: number, maxBytes = 120): Uint8Array[] {
  return Array.from({ length: n }, () => randomBytes(rnd, randomInt(rnd, 0, maxBytes)));
}

export function batchOf(partition: number, records: readonly Uint8Array[]) {
  return { partition, data: frameRecords(records), count: records.length };
}

/** Reads [from, to) of one partition with reads of at most `maxRecords`, checking each result. */
export async function readRange(
  log: EventLog,
  partition: number,
  from: number,
  to: number,
  maxRecords = 1000,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let offset = from;
  while (offset < to) {
    const max = Math.min(maxRecords, to - offset);
    const r = await log.read(partition, offset, max);
    assert.equal(r.fromOffset, offset);
    assert.ok(r.count > 0, `no progress reading partition ${partition} at ${offset} (end ${to})`);
    assert.ok(r.count <= max, `read ${r.count} records, more than ${max}`);
    assert.equal(r.nextOffset, offset + r.count);
    const records = splitRecords(r.data);
    assert.equal(records.length, r.count, 'count matches the records in data');
    out.push(...records);
    offset = r.nextOffset;
  }
  return out;
}

export function assertSameRecords(
  actual: readonly Uint8Array[],
  expected: readonly Uint8Array[],
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: record count`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Buffer.from(actual[i] as Uint8Array).equals(expected[i] as Uint8Array),
      `${what}: record ${i} differs`,
    );
  }
}

export async function expectTallyError(
  fn: () => unknown,
  code: string,
  field?: string,
): Promise<void> {
  await assert.rejects(
    async () => fn(),
    (e: unknown) => {
      assert.ok(isTallyError(e), `expected a TallyError, got ${String(e)}`);
      assert.equal(e.code, code);
      if (field !== undefined) assert.equal(e.field, field);
      return true;
    },
  );
}

export function runEventLogContract(name: string, makeLog: () => Promise<EventLogFixture>): void {
  async function withLog(fn: (f: EventLogFixture) => Promise<void>): Promise<void> {
    const f = await makeLog();
    try {
      await fn(f);
    } finally {
      await f.cleanup();
    }
  }

  describe(`EventLog contract: ${name}`, () => {
    it('hands out gap-free, increasing offsets per partition', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(1);
        const used = Math.min(log.partitions, 3);
        const ends = Array.from({ length: used }, (_, p) => log.endOffset(p));
        for (let i = 0; i < 30; i++) {
          const p = randomInt(rnd, 0, used - 1);
          const n = randomInt(rnd, 1, 40);
          const r = await log.append([batchOf(p, randomRecords(rnd, n))]);
          assert.equal(r.baseOffsets.get(p), ends[p], `base offset of append ${i}`);
          ends[p] = (ends[p] as number) + n;
          assert.equal(log.endOffset(p), ends[p]);
        }
      }));

    it('gives one base offset per partition of a multi-partition append', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(2);
        const parts = Array.from({ length: Math.min(log.partitions, 4) }, (_, p) => p);
        const before = parts.map((p) => log.endOffset(p));
        const r = await log.append(parts.map((p) => batchOf(p, randomRecords(rnd, p + 1))));
        for (const p of parts) {
          assert.equal(r.baseOffsets.get(p), before[p]);
          assert.equal(log.endOffset(p), (before[p] as number) + p + 1);
        }
      }));

    it('reads back exactly what was appended, from any offset, inside batches too', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(3);
        const start = log.endOffset(0);
        const expected: Uint8Array[] = [];
        for (let i = 0; i < 25; i++) {
          const records = randomRecords(rnd, randomInt(rnd, 1, 30));
          await log.append([batchOf(0, records)]);
          expected.push(...records);
        }
        for (let k = 0; k < expected.length; k += randomInt(rnd, 1, 4)) {
          const max = randomInt(rnd, 1, 50);
          const r = await log.read(0, start + k, max);
          assert.equal(r.fromOffset, start + k);
          assert.ok(r.count >= 1 && r.count <= max, `count ${r.count} for max ${max}`);
          assert.equal(r.nextOffset, start + k + r.count);
          assertSameRecords(
            splitRecords(r.data),
            expected.slice(k, k + r.count),
            `read at ${start + k}`,
          );
        }
      }));

    it('respects maxRecords and returns whole records only', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(4);
        const start = log.endOffset(0);
        const records = randomRecords(rnd, 100, 300);
        await log.append([batchOf(0, records)]);
        for (const max of [1, 2, 7, 99, 100, 1000]) {
          const r = await log.read(0, start + 1, max);
          assert.ok(r.count >= 1 && r.count <= Math.min(max, 99), `max ${max}: ${r.count}`);
          assertSameRecords(splitRecords(r.data), records.slice(1, 1 + r.count), `max ${max}`);
        }
      }));

    it('lets a sequential consumer see every record once, in order', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(5);
        const start = log.endOffset(0);
        const expected: Uint8Array[] = [];
        for (let i = 0; i < 40; i++) {
          const records = randomRecords(rnd, randomInt(rnd, 1, 60), 200);
          await log.append([batchOf(0, records)]);
          expected.push(...records);
        }
        const got: Uint8Array[] = [];
        let offset = start;
        for (;;) {
          const r = await log.read(0, offset, randomInt(rnd, 1, 80));
          if (r.count === 0) break;
          got.push(...splitRecords(r.data));
          offset = r.nextOffset;
        }
        assert.equal(offset, log.endOffset(0));
        assertSameRecords(got, expected, 'sequential read');
      }));

    it('keeps concurrent appends, all of them, in call order per partition', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(6);
        const used = Math.min(log.partitions, 3);
        const starts = Array.from({ length: used }, (_, p) => log.endOffset(p));
        const calls = Array.from({ length: 120 }, (_, i) => ({
          partition: i % used,
          records: randomRecords(rnd, randomInt(rnd, 1, 20)),
        }));
        const results = await Promise.all(
          calls.map((c) => log.append([batchOf(c.partition, c.records)])),
        );
        for (let p = 0; p < used; p++) {
          const mine = calls.map((c, i) => ({ ...c, i })).filter((c) => c.partition === p);
          let next = starts[p] as number;
          for (const c of mine) {
            assert.equal(results[c.i]?.baseOffsets.get(p), next, `call ${c.i} base offset`);
            next += c.records.length;
          }
          assert.equal(log.endOffset(p), next);
          const got = await readRange(log, p, starts[p] as number, next);
          assertSameRecords(
            got,
            mine.flatMap((c) => c.records),
            `partition ${p}`,
          );
        }
      }));

    it('keeps everything across a reopen, and continues the offsets', () =>
      withLog(async (f) => {
        if (f.reopen === undefined) return;
        const rnd = seededRandom(7);
        const used = Math.min(f.log.partitions, 2);
        const starts = Array.from({ length: used }, (_, p) => f.log.endOffset(p));
        const expected: Uint8Array[][] = Array.from({ length: used }, () => []);
        for (let i = 0; i < 20; i++) {
          const p = i % used;
          const records = randomRecords(rnd, randomInt(rnd, 1, 30));
          await f.log.append([batchOf(p, records)]);
          expected[p]?.push(...records);
        }
        const log = await f.reopen();
        for (let p = 0; p < used; p++) {
          const exp = expected[p] as Uint8Array[];
          assert.equal(log.endOffset(p), (starts[p] as number) + exp.length);
          const got = await readRange(log, p, starts[p] as number, log.endOffset(p), 13);
          assertSameRecords(got, exp, `partition ${p} after reopen`);
        }
        const more = randomRecords(rnd, 5);
        const end0 = log.endOffset(0);
        const r = await log.append([batchOf(0, more)]);
        assert.equal(r.baseOffsets.get(0), end0);
        assertSameRecords(await readRange(log, 0, end0, end0 + 5), more, 'appended after reopen');
      }));

    it('returns an empty result at and past the end', () =>
      withLog(async ({ log }) => {
        await log.append([batchOf(0, randomRecords(seededRandom(8), 3))]);
        const end = log.endOffset(0);
        for (const at of [end, end + 10]) {
          const r = await log.read(0, at, 10);
          assert.equal(r.count, 0);
          assert.equal(r.data.byteLength, 0);
          assert.equal(r.fromOffset, at);
          assert.equal(r.nextOffset, at);
        }
      }));

    it('round-trips empty and large records', () =>
      withLog(async ({ log }) => {
        const rnd = seededRandom(9);
        const start = log.endOffset(0);
        const records = [new Uint8Array(0), randomBytes(rnd, 200_000), new Uint8Array(0)];
        await log.append([batchOf(0, records)]);
        assertSameRecords(await readRange(log, 0, start, start + 3, 2), records, 'records');
      }));

    it('stamps records with the append wall clock', () =>
      withLog(async ({ log }) => {
        const start = log.endOffset(0);
        const before = Date.now();
        await log.append([batchOf(0, randomRecords(seededRandom(10), 2))]);
        const after = Date.now();
        const r = await log.read(0, start, 10);
        // leeway for a broker whose clock is not ours
        assert.ok(r.lastAppendTime >= before - 5000 && r.lastAppendTime <= after + 5000);
      }));

    it('refuses partitions that do not exist', () =>
      withLog(async ({ log }) => {
        const data = batchOf(log.partitions, [new Uint8Array(1)]);
        await expectTallyError(() => log.append([data]), 'TALLY_BAD_PARAMETER', 'partition');
        await expectTallyError(
          () => log.append([{ ...data, partition: -1 }]),
          'TALLY_BAD_PARAMETER',
          'partition',
        );
        await expectTallyError(
          () => log.read(log.partitions, 0, 1),
          'TALLY_BAD_PARAMETER',
          'partition',
        );
        await expectTallyError(() => log.read(1.5, 0, 1), 'TALLY_BAD_PARAMETER', 'partition');
        await expectTallyError(
          () => log.endOffset(log.partitions),
          'TALLY_BAD_PARAMETER',
          'partition',
        );
      }));

    it('refuses offsets below the start', () =>
      withLog(async ({ log }) => {
        const start = log.startOffset(0);
        await expectTallyError(() => log.read(0, start - 1, 1), 'TALLY_BAD_PARAMETER', 'offset');
      }));

    it('refuses data whose framing does not match its count', () =>
      withLog(async ({ log }) => {
        const { data } = batchOf(0, [new Uint8Array(3), new Uint8Array(4)]);
        await expectTallyError(
          () => log.append([{ partition: 0, data, count: 3 }]),
          'TALLY_BAD_PARAMETER',
          'data',
        );
        await expectTallyError(
          () =>
            log.append([{ partition: 0, data: data.subarray(0, data.byteLength - 1), count: 2 }]),
          'TALLY_BAD_PARAMETER',
          'data',
        );
      }));
  });
}
