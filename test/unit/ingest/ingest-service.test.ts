import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestService } from '../../../src/services/ingest/ingest-service.js';
import { EncodePool } from '../../../src/services/ingest/encode-pool.js';
import { ingestNdjsonStream } from '../../../src/services/ingest/file-ingest.js';
import { BatchEncoder } from '../../../src/core/event/encode-batch.js';
import { NdjsonChunker } from '../../../src/core/event/ndjson-chunker.js';
import { parseBody } from '../../../src/core/event/parse-body.js';
import { decodeAll } from '../../../src/core/event/codec.js';
import type { DeadLetter, DeadLetterStore } from '../../../src/ports/dead-letters.js';
import type { AppendResult, EventLog, PartitionAppend } from '../../../src/ports/event-log.js';
import { isTallyError } from '../../../src/core/errors.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const PARTITIONS = 4;

/** An in-memory log and dead-letter store: what the service hands them, in call order. */
function service() {
  const appended: PartitionAppend[][] = [];
  const letters: DeadLetter[] = [];
  const log = {
    partitions: PARTITIONS,
    append(batches: PartitionAppend[]): Promise<AppendResult> {
      appended.push(batches);
      return Promise.resolve({ baseOffsets: new Map() });
    },
  } as unknown as EventLog;
  const deadLetters = {
    add(ls: DeadLetter[]) {
      letters.push(...ls);
      return Promise.resolve();
    },
  } as unknown as DeadLetterStore;
  const svc = new IngestService({
    log,
    deadLetters,
    clock: { now: () => NOW } as never,
    maxFutureSkewMs: 300_000,
    maxInflightBytes: 1 << 30,
    maxLagRecords: 1 << 30,
    lag: () => 0,
  });
  return { svc, appended, letters };
}

const line = (i: number, extra = '') =>
  `{"ad_id":"ad-${i % 7}","timestamp":${NOW - i},"event_id":"e-${i}"${extra}}`;

function events(appended: PartitionAppend[][]) {
  return appended.flat().map((a) => [a.partition, a.count, decodeAll(a.data)] as const);
}

test('ingestBody appends and rejects exactly what parseBody + ingest did', async () => {
  const body = [
    line(1),
    '',
    '{"ad_id":"bad id","timestamp":1}',
    line(2, ',"campaign":"c-1"'),
    '{nope',
    line(3),
    '{"ad_id":"ad-1","timestamp":"2026-01-01T13:00:00Z"}',
  ].join('\n');
  for (const contentType of ['application/x-ndjson', 'application/json', undefined]) {
    const a = service();
    const b = service();
    const ra = await a.svc.ingestBody(body, contentType, 'http:test');
    const rb = await b.svc.ingest(parseBody(body, contentType), 'http:test');
    assert.deepEqual(ra, rb);
    assert.equal(ra.accepted, 3);
    assert.deepEqual(
      ra.rejected.map((r) => [r.index, r.code]),
      [
        [1, 'TALLY_FIELD_FORMAT'],
        [3, 'TALLY_EVENT_MALFORMED_JSON'],
        [5, 'TALLY_EVENT_IN_FUTURE'],
      ],
    );
    assert.deepEqual(events(a.appended), events(b.appended));
    assert.deepEqual(a.letters, b.letters);
    assert.equal(a.letters[0]!.payload, '{"ad_id":"bad id","timestamp":1}');
    assert.equal(a.letters[0]!.receivedAt, NOW);
    // and the bytes form of the same body
    const c = service();
    assert.deepEqual(
      await c.svc.ingestBody(new TextEncoder().encode(body), contentType, 'http:test'),
      ra,
    );
    assert.deepEqual(events(c.appended), events(a.appended));
  }
});

test('ingestBody: a JSON array body; an empty body is TALLY_BAD_REQUEST and appends nothing', async () => {
  const a = service();
  const r = await a.svc.ingestBody(`[${line(1)}, ${line(2)}, 42]`, 'application/json', 'http:x');
  assert.equal(r.accepted, 2);
  assert.deepEqual(
    r.rejected.map((x) => [x.index, x.code]),
    [[2, 'TALLY_EVENT_NOT_OBJECT']],
  );
  for (const empty of ['', ' \n\n', '[]', new Uint8Array(0)]) {
    const e = service();
    await assert.rejects(
      e.svc.ingestBody(empty, 'application/json', 'http:x'),
      (err: unknown) => isTallyError(err) && err.code === 'TALLY_BAD_REQUEST',
    );
    assert.equal(e.appended.length, 0);
  }
});

test('encode pool: workers encode chunks exactly as the encoder in this thread', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    lines.push(i % 97 === 0 ? '{"ad_id":"x y","timestamp":1}' : i % 89 === 0 ? '{broken' : line(i));
  }
  const bytes = new TextEncoder().encode(lines.join('\n') + '\n');
  const chunker = new NdjsonChunker();
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; off += 64 * 1024) {
    const c = chunker.push(bytes.subarray(off, off + 64 * 1024));
    if (c !== undefined) chunks.push(c);
  }
  const local = new BatchEncoder();
  const opts = { now: NOW, maxFutureSkewMs: 300_000, partitions: PARTITIONS };
  const expected = chunks.map((c) => local.encodeNdjson(c, opts));
  const pool = new EncodePool(2);
  try {
    // all at once: they finish in any order, each resolves with its own chunk's result
    const got = await Promise.all(chunks.map((c) => pool.encode(c.slice(), opts)));
    assert.equal(got.length, expected.length);
    got.forEach((g, i) => {
      assert.deepEqual(
        g.perPartition.map((p) => [p.count, [...p.data]]),
        expected[i]!.perPartition.map((p) => [p.count, [...p.data]]),
      );
      assert.deepEqual(g.rejected, expected[i]!.rejected);
      assert.equal(g.records, expected[i]!.records);
    });
    // a view on a shared buffer is copied, not transferred away from its owner
    const shared = new Uint8Array(bytes.buffer.slice(0));
    const view = shared.subarray(0, chunks[0]!.length);
    await pool.encode(view, opts);
    assert.equal(shared.byteLength, bytes.byteLength);
  } finally {
    await pool.close();
  }
  await assert.rejects(pool.encode(new Uint8Array(1), opts));
});

test('ingestNdjsonStream: appends in input order per partition, exact indices, with or without workers', async () => {
  const lines: string[] = ['\ufeff' + line(0)];
  for (let i = 1; i < 30_000; i++) {
    if (i % 101 === 0) lines.push('{"ad_id":"x y","timestamp":1}');
    else if (i % 103 === 0) lines.push(`{broken ${i}`);
    else if (i % 107 === 0) lines.push('  ');
    else lines.push(line(i, i % 5 === 0 ? ',"campaign":"c"' : ''));
  }
  const bytes = new TextEncoder().encode(lines.join('\r\n'));
  // the reference: the whole input as one batch, on this thread
  const whole = new BatchEncoder().encodeNdjson(bytes.subarray(3), {
    now: NOW,
    maxFutureSkewMs: 300_000,
    partitions: PARTITIONS,
  });
  async function* pieces(size: number) {
    for (let off = 0; off < bytes.length; off += size) yield bytes.slice(off, off + size);
  }
  const pool = new EncodePool(2);
  try {
    for (const [size, withPool] of [
      [7_919, true],
      [65_536, true],
      [100_003, false],
    ] as const) {
      const s = service();
      const totals = await ingestNdjsonStream(s.svc, pieces(size), 'file:x', {
        pool: withPool ? pool : undefined,
      });
      assert.deepEqual(totals, { accepted: whole.accepted, rejected: whole.rejected.length });
      for (let p = 0; p < PARTITIONS; p++) {
        const got = s.appended.flat().filter((a) => a.partition === p);
        const data = Buffer.concat(got.map((a) => a.data));
        assert.ok(data.equals(whole.perPartition[p]!.data), `partition ${p} in input order`);
      }
      assert.deepEqual(
        s.letters.map((l) => [l.index, l.code, l.reason, l.payload]),
        whole.rejected.map((r) => [r.index, r.code, r.message, r.payload]),
      );
    }
  } finally {
    await pool.close();
  }
});
