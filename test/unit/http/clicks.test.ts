import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestService } from '../../../src/services/ingest/ingest-service.js';
import {
  MINUTE,
  ndjson,
  openTestServer,
  pastMinute,
  totalAppended,
  type ErrorShape,
  type TestServer,
} from './helpers.js';

interface ClicksBody {
  accepted: number;
  rejected: Array<{ index: number; error: string; code: string; field?: string }>;
}

const t0 = pastMinute(10);
const click = (i: number, extra: Record<string, unknown> = {}) => ({
  ad_id: `ad-${i % 3}`,
  timestamp: t0 + i * 1000,
  event_id: `ev-${i}`,
  ...extra,
});

describe('POST /v1/clicks', () => {
  let t: TestServer;
  before(async () => {
    t = await openTestServer({ http: { bodyLimitBytes: 4096 } });
  });
  after(() => t.close());

  /** `null`: no Content-Type header at all */
  const post = (payload: string, contentType: string | null = 'application/x-ndjson') =>
    t.server.inject({
      method: 'POST',
      url: '/v1/clicks',
      headers: contentType === null ? {} : { 'content-type': contentType },
      payload,
    });

  test('NDJSON: every record accepted and durable in the log when the answer comes', async () => {
    const before = totalAppended(t.app);
    const res = await post(ndjson([click(1), click(2), click(3)]));
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { accepted: 3, rejected: [] });
    assert.equal(totalAppended(t.app) - before, 3);
  });

  test('NDJSON: a malformed line is rejected alone, with its index; the good ones are accepted', async () => {
    const lettersBefore = await t.app.deadLetters.count();
    const body = [
      JSON.stringify(click(10)),
      '{"ad_id": "ad-1", "timestamp": ', // cut short
      JSON.stringify(click(11)),
      '',
      'not json at all',
      JSON.stringify({ ad_id: 'bad id!', timestamp: t0 }),
      JSON.stringify(click(12)),
    ].join('\r\n');
    const res = await post(body);
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json<ClicksBody>();
    assert.equal(r.accepted, 3);
    // blank lines are skipped and not counted: the bad ones are records 1, 3 and 4
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code]),
      [
        [1, 'TALLY_EVENT_MALFORMED_JSON'],
        [3, 'TALLY_EVENT_MALFORMED_JSON'],
        [4, 'TALLY_FIELD_FORMAT'],
      ],
    );
    assert.equal(r.rejected[2]!.field, 'ad_id');
    assert.match(r.rejected[2]!.error, /ad_id/);
    assert.equal((await t.app.deadLetters.count()) - lettersBefore, 3);
  });

  test('JSON array: invalid records are reported by index with code and field', async () => {
    const res = await post(
      JSON.stringify([
        click(20),
        { timestamp: t0 },
        click(21, { country: 'XX' }),
        'click',
        click(22, { timestamp: '2026-01-01T00:00:00' }),
        click(23, { ip: '999.1.1.1' }),
        click(24),
      ]),
      'application/json',
    );
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json<ClicksBody>();
    assert.equal(r.accepted, 2);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code, x.field]),
      [
        [1, 'TALLY_FIELD_MISSING', 'ad_id'],
        [2, 'TALLY_FIELD_FORMAT', 'country'],
        [3, 'TALLY_EVENT_NOT_OBJECT', undefined],
        [4, 'TALLY_FIELD_FORMAT', 'timestamp'],
        [5, 'TALLY_FIELD_FORMAT', 'ip'],
      ],
    );
  });

  test('JSON array with a broken element: the other elements are still accepted', async () => {
    const res = await post(
      `[${JSON.stringify(click(30))}, {"ad_id": "ad-1",, }, ${JSON.stringify(click(31))}]`,
      'application/json; charset=utf-8',
    );
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json<ClicksBody>();
    assert.equal(r.accepted, 2);
    assert.deepEqual(
      r.rejected.map((x) => [x.index, x.code]),
      [[1, 'TALLY_EVENT_MALFORMED_JSON']],
    );
  });

  test('application/json: a single object is one record', async () => {
    const res = await post(JSON.stringify(click(40), null, 2), 'application/json');
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { accepted: 1, rejected: [] });
  });

  test('text/plain is read as NDJSON', async () => {
    const res = await post(ndjson([click(41), click(42)]), 'text/plain');
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<ClicksBody>().accepted, 2);
  });

  test('an event too far in the future is rejected, the batch is not', async () => {
    const res = await post(ndjson([click(50), click(51, { timestamp: Date.now() + 60 * MINUTE })]));
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json<ClicksBody>();
    assert.equal(r.accepted, 1);
    assert.equal(r.rejected[0]!.code, 'TALLY_EVENT_IN_FUTURE');
  });

  for (const [name, payload] of [
    ['empty body', ''],
    ['whitespace only', '  \n\r\n \n'],
    ['empty JSON array', '[]'],
  ] as const) {
    test(`${name} → 400 TALLY_BAD_REQUEST`, async () => {
      const res = await post(payload, 'application/json');
      assert.equal(res.statusCode, 400, res.body);
      const e = res.json<ErrorShape>();
      assert.equal(e.code, 'TALLY_BAD_REQUEST');
      assert.equal(e.field, 'body');
      assert.match(e.error, /no records/);
    });
  }

  test('over the body limit → 413 TALLY_PAYLOAD_TOO_LARGE, JSON, and the process goes on', async () => {
    const big = ndjson(Array.from({ length: 200 }, (_, i) => click(100 + i)));
    assert.ok(big.length > 4096);
    const res = await post(big);
    assert.equal(res.statusCode, 413, res.body);
    const e = res.json<ErrorShape>();
    assert.equal(e.code, 'TALLY_PAYLOAD_TOO_LARGE');
    assert.match(e.error, /4096 bytes/);
    const ok = await post(ndjson([click(99)]));
    assert.equal(ok.statusCode, 200);
  });

  for (const [name, contentType] of [
    ['form-encoded (curl -d)', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['xml', 'application/xml'],
    ['no content type', null],
  ] as const) {
    test(`${name} → 415 naming the content type`, async () => {
      const res = await post(ndjson([click(1)]), contentType);
      assert.equal(res.statusCode, 415, res.body);
      const e = res.json<ErrorShape>();
      assert.equal(e.code, 'TALLY_UNSUPPORTED_MEDIA_TYPE');
      assert.equal(e.field, 'content-type');
      assert.ok(e.error.includes(contentType ?? 'no Content-Type'), e.error);
      assert.match(e.error, /application\/x-ndjson/);
    });
  }

  test('a compressed body → 415 naming the encoding', async () => {
    const res = await t.server.inject({
      method: 'POST',
      url: '/v1/clicks',
      headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' },
      payload: 'x',
    });
    assert.equal(res.statusCode, 415);
    assert.equal(res.json<ErrorShape>().field, 'content-encoding');
  });

  test('GET /v1/clicks: the path exists for POST only → 405 JSON with Allow', async () => {
    const res = await t.server.inject({ method: 'GET', url: '/v1/clicks' });
    assert.equal(res.statusCode, 405);
    assert.equal(res.headers['allow'], 'POST');
    assert.equal(res.json<ErrorShape>().code, 'TALLY_METHOD_NOT_ALLOWED');
  });
});

describe('POST /v1/clicks under back-pressure', () => {
  test('aggregator too far behind → 503 TALLY_AGGREGATOR_BEHIND with Retry-After', async () => {
    const t = await openTestServer(
      {},
      {
        deps: (app, base) => ({
          ...base,
          ingest: new IngestService({
            log: app.log,
            deadLetters: app.deadLetters,
            clock: app.clock,
            metrics: app.metrics,
            maxFutureSkewMs: 300_000,
            maxInflightBytes: 256 * 1024 * 1024,
            maxLagRecords: 1,
            // the aggregator is not started: everything appended stays lag
            lag: () => app.runner.lag(),
          }),
        }),
      },
    );
    try {
      const post = () =>
        t.server.inject({
          method: 'POST',
          url: '/v1/clicks',
          headers: { 'content-type': 'application/x-ndjson' },
          payload: ndjson([click(1), click(2)]),
        });
      assert.equal((await post()).statusCode, 200);
      const res = await post();
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['retry-after'], '5');
      const e = res.json<ErrorShape & { retry_after_seconds: number }>();
      assert.equal(e.code, 'TALLY_AGGREGATOR_BEHIND');
      assert.equal(e.retry_after_seconds, 5);
      assert.equal(totalAppended(t.app), 2, 'a refused batch appends nothing');
      const metrics = await t.app.metrics.registry.metrics();
      assert.match(metrics, /tally_ingest_backpressure_total\{reason="lag"\} [1-9]/);
    } finally {
      await t.close();
    }
  });

  test('state over aggregation.memoryBudgetMiB → 503 TALLY_MEMORY_BUDGET with Retry-After, until it is within', async () => {
    const t = await openTestServer({ aggregation: { memoryBudgetMiB: 1 } });
    try {
      const post = (from: number, n: number) =>
        t.server.inject({
          method: 'POST',
          url: '/v1/clicks',
          headers: { 'content-type': 'application/x-ndjson' },
          payload: ndjson(
            Array.from({ length: n }, (_, i) => ({
              ad_id: `ad-${(from + i) % 5000}`,
              timestamp: t0 + ((from + i) % 400) * 1000,
              event_id: `big-${from + i}`,
            })),
          ),
        });
      // 60k distinct ids: a dedup table of 128k slots (3 MiB), over a 1 MiB budget
      for (let i = 0; i < 60_000; i += 10_000)
        assert.equal((await post(i, 10_000)).statusCode, 200);
      await t.app.runner.cycle();
      const state = t.app.runner.stateStats();
      assert.ok(state.overBudget && state.stateBytes > 2 ** 20, JSON.stringify(state));
      const res = await post(100_000, 10);
      assert.equal(res.statusCode, 503, res.body);
      assert.equal(res.headers['retry-after'], '10');
      assert.equal(res.json<ErrorShape>().code, 'TALLY_MEMORY_BUDGET');
      const status = await t.server.inject({ method: 'GET', url: '/v1/status' });
      const body = status.json<{
        state: { over_budget: boolean; bytes_per_dedup_entry: number };
      }>();
      assert.equal(body.state.over_budget, true);
      assert.ok(body.state.bytes_per_dedup_entry >= 24, JSON.stringify(body.state));
      const metrics = await t.app.metrics.registry.metrics();
      assert.match(metrics, /tally_ingest_backpressure_total\{reason="memory"\} [1-9]/);
      assert.match(metrics, /tally_state_bytes\{part="dedup"\} [1-9]/);
      // the watermark passes the dedup horizon: the ids expire, the table shrinks, ingest resumes
      await t.app.runner.cycle({ finalWatermark: t0 + 3 * 3_600_000 });
      assert.equal(t.app.runner.stateStats().overBudget, false);
      assert.equal((await post(200_000, 10)).statusCode, 200);
    } finally {
      await t.close();
    }
  });

  test('too many bytes in flight → 429 TALLY_BACKPRESSURE with Retry-After; the others are durable', async () => {
    const t = await openTestServer(
      {},
      {
        deps: (app, base) => ({
          ...base,
          ingest: new IngestService({
            log: app.log,
            deadLetters: app.deadLetters,
            clock: app.clock,
            metrics: app.metrics,
            maxFutureSkewMs: 300_000,
            maxInflightBytes: 1,
            maxLagRecords: 1_000_000,
            lag: () => app.runner.lag(),
          }),
        }),
      },
    );
    try {
      const batch = ndjson(Array.from({ length: 50 }, (_, i) => click(i)));
      const answers = await Promise.all(
        Array.from({ length: 8 }, () =>
          t.server.inject({
            method: 'POST',
            url: '/v1/clicks',
            headers: { 'content-type': 'application/x-ndjson' },
            payload: batch,
          }),
        ),
      );
      const codes = answers.map((a) => a.statusCode);
      assert.ok(codes.includes(200), `some batch is admitted: ${codes.join(',')}`);
      assert.ok(codes.includes(429), `concurrent batches are refused: ${codes.join(',')}`);
      for (const a of answers.filter((x) => x.statusCode === 429)) {
        assert.equal(a.headers['retry-after'], '1');
        assert.equal(a.json<ErrorShape>().code, 'TALLY_BACKPRESSURE');
      }
      const admitted = codes.filter((c) => c === 200).length;
      assert.equal(totalAppended(t.app), admitted * 50, 'refused batches append nothing');
    } finally {
      await t.close();
    }
  });
});
