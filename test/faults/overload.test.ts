/**
 * Overload at the HTTP edge: more clients posting large batches at once than the log can make
 * durable. The real log stands still (its appends wait on a gate, as a slow disk makes them
 * wait) while 24 clients post ~150 KiB each over real sockets: the bytes held for requests
 * being read, encoded and made durable stay within http.maxInflightBytes (plus one body
 * admitted alone), the rest are refused with 429 and Retry-After before their bodies are
 * kept, and a client that hangs up mid-body gives its bytes back. Then the log moves again;
 * the clients retry what was refused; the log holds every acknowledged event exactly once.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { decodeAll } from '../../src/core/event/codec.js';
import type { AppendResult, EventLog, PartitionAppend } from '../../src/ports/event-log.js';
import { IngestService } from '../../src/services/ingest/ingest-service.js';
import { openTestServer, type TestServer } from '../unit/http/helpers.js';
import { sleep } from './support.js';

const MAX_INFLIGHT = 512 * 1024;
const CLIENTS = 24;
const PER_BATCH = 1_200;

/** The real log whose appends wait until the gate opens (a disk that does not keep up). */
class GatedLog implements EventLog {
  private open = false;
  private waiting: Array<() => void> = [];
  /** what the ingest service held in flight at each append, sampled while the gate is shut */
  readonly heldAtAppend: number[] = [];

  constructor(
    readonly inner: EventLog,
    private readonly held: () => number,
  ) {}

  get partitions(): number {
    return this.inner.partitions;
  }

  release(): void {
    this.open = true;
    for (const w of this.waiting.splice(0)) w();
  }

  get blocked(): number {
    return this.waiting.length;
  }

  async append(batches: PartitionAppend[]): Promise<AppendResult> {
    this.heldAtAppend.push(this.held());
    if (!this.open) await new Promise<void>((r) => this.waiting.push(r));
    return this.inner.append(batches);
  }

  read(partition: number, fromOffset: number, maxRecords: number) {
    return this.inner.read(partition, fromOffset, maxRecords);
  }

  endOffset(partition: number): number {
    return this.inner.endOffset(partition);
  }

  startOffset(partition: number): number {
    return this.inner.startOffset(partition);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function post(port: number, body: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/clicks',
        headers: { 'content-type': 'application/x-ndjson', 'content-length': body.length },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
      },
    );
    // a refusal may come before the whole body is sent: the answer is what counts
    req.on('error', reject);
    req.end(body);
  });
}

describe('overload: many large POSTs at once while the log stands still', () => {
  let t: TestServer;
  let log: GatedLog;
  let ingest: IngestService;
  let port: number;
  const now = Date.now();

  before(async () => {
    t = await openTestServer(
      { http: { bodyLimitBytes: 1024 * 1024 } },
      {
        deps: (app, base) => {
          log = new GatedLog(app.log, () => ingest.inflight);
          ingest = new IngestService({
            log,
            deadLetters: app.deadLetters,
            clock: app.clock,
            metrics: app.metrics,
            maxFutureSkewMs: 300_000,
            maxInflightBytes: MAX_INFLIGHT,
            maxLagRecords: 100_000_000,
            lag: () => 0,
          });
          return { ...base, ingest };
        },
      },
    );
    await t.server.listen({ host: '127.0.0.1', port: 0 });
    port = (t.server.server.address() as AddressInfo).port;
  });
  after(() => t.close());

  const batches = Array.from({ length: CLIENTS }, (_, b) =>
    Buffer.from(
      Array.from(
        { length: PER_BATCH },
        (_, i) =>
          `{"ad_id":"ad-${i % 50}","timestamp":${now - 120_000 + i},"event_id":"b${b}-e${i}-${'x'.repeat(40)}","user_id":"u${i}","country":"US"}\n`,
      ).join(''),
    ),
  );
  const acked = new Set<number>();

  test('refuses what does not fit with 429 and Retry-After, holding at most maxInflightBytes', async () => {
    const size = batches[0]!.length;
    assert.ok(size > 100 * 1024 && size < MAX_INFLIGHT / 2, `batch of ${size} bytes`);
    const answers = batches.map((b) => post(port, b));
    // the admitted batches reach the gate; every other one is answered meanwhile
    const refused: number[] = [];
    const settled = answers.map((p, i) =>
      p.then((a) => {
        if (a.status !== 200) refused.push(i);
        return a;
      }),
    );
    while (log.blocked + refused.length < CLIENTS) await sleep(10);
    const admitted = log.blocked;
    assert.ok(admitted >= 1, 'the first batch is admitted');
    assert.ok(
      admitted * size <= Math.max(MAX_INFLIGHT, size),
      `${admitted} batches of ${size} bytes held at once (limit ${MAX_INFLIGHT})`,
    );
    assert.ok(refused.length >= CLIENTS - MAX_INFLIGHT / size, `${refused.length} refused`);
    assert.ok(ingest.inflight <= MAX_INFLIGHT, `${ingest.inflight} bytes held`);
    for (const held of log.heldAtAppend) assert.ok(held <= MAX_INFLIGHT, `${held} bytes held`);

    // the log moves again: the admitted batches are acknowledged once durable
    log.release();
    const results = await Promise.all(settled);
    for (const [i, a] of results.entries()) {
      if (a.status === 200) {
        const r = JSON.parse(a.body) as { accepted: number; rejected: unknown[] };
        assert.equal(r.accepted, PER_BATCH);
        acked.add(i);
        continue;
      }
      assert.equal(a.status, 429, a.body);
      assert.equal(a.headers['retry-after'], '1');
      const e = JSON.parse(a.body) as { code: string; retry_after_seconds: number; error: string };
      assert.equal(e.code, 'TALLY_BACKPRESSURE');
      assert.equal(e.retry_after_seconds, 1);
      assert.match(e.error, /bytes in flight \(limit 524288\)/);
    }
    assert.equal(acked.size, admitted);
    assert.equal(ingest.inflight, 0, 'every reservation was released');
  });

  test('clients stalling mid-body: at most maxInflightBytes held, the others refused before their bodies', async () => {
    const declared = 200_000;
    const fits = Math.floor(MAX_INFLIGHT / declared); // 2
    const stalled = Array.from({ length: 8 }, () => {
      const req = request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/clicks',
        headers: { 'content-type': 'application/x-ndjson', 'content-length': declared },
        agent: false,
      });
      const answer = new Promise<Answer | undefined>((resolve) => {
        req.on('response', (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
          );
        });
        req.on('error', () => resolve(undefined));
      });
      // 1 KB of the 200 KB declared, then nothing: the body never completes
      req.write(batches[0]!.subarray(0, 1000));
      return { req, answer };
    });
    // the ones that do not fit are answered although their bodies are not there
    const answered = await Promise.all(stalled.slice(fits).map((s) => s.answer));
    for (const a of answered) {
      assert.ok(a, 'answered');
      assert.equal(a.status, 429, a.body);
      assert.equal(a.headers['retry-after'], '1');
    }
    assert.equal(ingest.inflight, fits * declared, 'the stalled bodies that fit are held');
    // hanging up gives the bytes back
    for (const s of stalled) s.req.destroy();
    for (let i = 0; i < 1000 && ingest.inflight !== 0; i++) await sleep(5);
    assert.equal(ingest.inflight, 0, 'every reservation was released');
  });

  test('retrying after Retry-After, every batch is acknowledged; the log holds each event once', async () => {
    for (let i = 0; i < CLIENTS; i++) {
      if (acked.has(i)) continue;
      for (;;) {
        const a = await post(port, batches[i]!);
        if (a.status === 200) break;
        assert.equal(a.status, 429, a.body);
        await sleep(Number(a.headers['retry-after']) * 1000);
      }
      acked.add(i);
    }
    const ids = new Map<string, number>();
    for (let p = 0; p < log.partitions; p++) {
      for (let off = log.startOffset(p); off < log.endOffset(p);) {
        const r = await log.read(p, off, 10_000);
        for (const e of decodeAll(r.data)) ids.set(e.eventId, (ids.get(e.eventId) ?? 0) + 1);
        off = r.nextOffset;
      }
    }
    assert.equal(ids.size, CLIENTS * PER_BATCH, 'every acknowledged event is in the log');
    for (const [id, n] of ids) assert.equal(n, 1, `${id} appended ${n} times`);
    for (let b = 0; b < CLIENTS; b++) assert.ok(ids.has(`b${b}-e7-${'x'.repeat(40)}`));
  });
});
