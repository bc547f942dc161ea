/**
 * Hostile input, as an attacker sends it: every request gets a 4xx with a reason (or a 200
 * whose `rejected` says why each record was refused), never a 5xx, and the process keeps
 * serving. Then property-based fuzzing: 10⁶ inputs in all across the body encoder (every
 * content type, bytes and text), the query parameter parsers and the filter parser, with no
 * exception out of the core; and arbitrary requests through inject() with no 5xx.
 */
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { BatchEncoder } from '../../src/core/event/encode-batch.js';
import { isTallyError } from '../../src/core/errors.js';
import { parseFilter } from '../../src/services/query/filters.js';
import { parseIntParam, parseRange, parseTime } from '../../src/services/query/params.js';
import { openTestServer, type TestServer } from '../unit/http/helpers.js';

const NOW = Date.UTC(2026, 10, 25, 10);
const OPTS = { now: NOW, maxFutureSkewMs: 300_000, partitions: 8 };
const click = (extra = '') => `{"ad_id":"ad-1","timestamp":${NOW - 60_000}${extra}}`;

/** how many inputs the properties below draw in all: the issue's 10⁶ */
let drawn = 0;

describe('hostile requests through the HTTP API', () => {
  let t: TestServer;
  before(async () => {
    t = await openTestServer({ http: { bodyLimitBytes: 4 * 1024 * 1024 } });
  });
  after(() => t.close());

  const post = (payload: string | Buffer, contentType?: string) =>
    t.server.inject({
      method: 'POST',
      url: '/v1/clicks',
      headers: contentType === undefined ? {} : { 'content-type': contentType },
      payload,
    });

  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const cases: Array<[string, string | Buffer, string | undefined, number, string?]> = [
    [
      '5,000 levels of nesting (NDJSON)',
      `{"a":${deep(5000)}}`,
      'application/x-ndjson',
      200,
      'TALLY_RECORD_LIMIT',
    ],
    [
      '5,000 levels of nesting in a valid click',
      click(`,"a":${deep(5000)}`),
      'application/x-ndjson',
      200,
      'TALLY_RECORD_LIMIT',
    ],
    [
      '5,000 levels in a JSON array body',
      `[{"a":${deep(5000)}}]`,
      'application/json',
      200,
      'TALLY_RECORD_LIMIT',
    ],
    [
      'a 9,000-deep array element',
      `[${deep(9000)}]`,
      'application/json',
      200,
      'TALLY_EVENT_NOT_OBJECT',
    ],
    [
      '100,000 levels, unterminated',
      `{"a":${'['.repeat(100_000)}`,
      'application/x-ndjson',
      200,
      'TALLY_EVENT_MALFORMED_JSON',
    ],
    [
      '10,000 fields',
      `{${Array.from({ length: 10_000 }, (_, i) => `"f${i}":${i}`).join(',')}}`,
      'application/x-ndjson',
      200,
      'TALLY_RECORD_LIMIT',
    ],
    [
      'a 1 MB unknown field',
      click(`,"x":"${'x'.repeat(1 << 20)}"`),
      'application/x-ndjson',
      200,
      'TALLY_RECORD_LIMIT',
    ],
    [
      'a 1 MB ad_id (the record limit comes first)',
      `{"ad_id":"${'a'.repeat(1 << 20)}","timestamp":1}`,
      'application/x-ndjson',
      200,
      'TALLY_RECORD_LIMIT',
    ],
    [
      'a control character in user_id',
      click(',"user_id":"u\\u0000"'),
      'application/x-ndjson',
      200,
      'TALLY_FIELD_FORMAT',
    ],
    [
      'DEL in event_id, raw',
      click(',"event_id":"e\u007f"'),
      'application/x-ndjson',
      200,
      'TALLY_FIELD_FORMAT',
    ],
    [
      'a C1 control in user_id, raw',
      click(',"user_id":"u\u0085"'),
      'application/x-ndjson',
      200,
      'TALLY_FIELD_FORMAT',
    ],
    [
      '1e400 in an unknown field',
      click(',"n":1e400'),
      'application/x-ndjson',
      200,
      'TALLY_FIELD_FORMAT',
    ],
    [
      '1e400 as the timestamp',
      '{"ad_id":"a","timestamp":1e400}',
      'application/x-ndjson',
      200,
      'TALLY_FIELD_FORMAT',
    ],
    [
      '__proto__ and constructor keys',
      click(',"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}'),
      'application/x-ndjson',
      200,
    ],
    ['an empty body', '', 'application/x-ndjson', 400, 'TALLY_BAD_REQUEST'],
    ['an empty JSON array', '[]', 'application/json', 400, 'TALLY_BAD_REQUEST'],
    ['a JSON number body', '42', 'application/json', 400, 'TALLY_BAD_REQUEST'],
    ['a JSON string body', '"click"', 'application/json', 400, 'TALLY_BAD_REQUEST'],
    ['no content type', click(), undefined, 415, 'TALLY_UNSUPPORTED_MEDIA_TYPE'],
    [
      'a form post',
      'a=1',
      'application/x-www-form-urlencoded',
      415,
      'TALLY_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['multipart', click(), 'multipart/form-data; boundary=x', 415, 'TALLY_UNSUPPORTED_MEDIA_TYPE'],
    [
      'a charset other than UTF-8',
      click(),
      'application/json; charset=iso-8859-1',
      415,
      'TALLY_UNSUPPORTED_MEDIA_TYPE',
    ],
    ['charset=UTF-8 (any case, quoted)', click(), 'application/x-ndjson; charset="UTF-8"', 200],
    [
      'over the body limit',
      'x'.repeat(5 * 1024 * 1024),
      'application/x-ndjson',
      413,
      'TALLY_PAYLOAD_TOO_LARGE',
    ],
    [
      'invalid UTF-8 bytes in a key',
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      'application/x-ndjson',
      200,
      'TALLY_EVENT_INVALID_UTF8',
    ],
    [
      'invalid UTF-8 in user_id of a valid click (NDJSON)',
      Buffer.concat([
        Buffer.from(click(',"user_id":"u')),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('"}'),
      ]).subarray(0),
      'application/x-ndjson',
      200,
      'TALLY_EVENT_INVALID_UTF8',
    ],
    [
      'invalid UTF-8 in an element of a JSON array',
      Buffer.concat([
        Buffer.from(`[${click()},{"ad_id":"ad-1","timestamp":1,"x":"`),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from('"}]'),
      ]),
      'application/json',
      200,
      'TALLY_EVENT_INVALID_UTF8',
    ],
    [
      'more records than http.maxRecordsPerRequest (NDJSON of {})',
      '{}\n'.repeat(100_001),
      'application/x-ndjson',
      413,
      'TALLY_PAYLOAD_TOO_LARGE',
    ],
    [
      'more records than http.maxRecordsPerRequest (a JSON array)',
      `[${Array(100_001).fill('{}').join(',')}]`,
      'application/json',
      413,
      'TALLY_PAYLOAD_TOO_LARGE',
    ],
    [
      'an NDJSON line that is an array',
      `[${click()}]\n${click()}`,
      'application/x-ndjson',
      200,
      'TALLY_EVENT_NOT_OBJECT',
    ],
  ];
  for (const [name, payload, ct, status, code] of cases) {
    test(`${name} → ${status}${code ? ` ${code}` : ''}`, async () => {
      const res = await post(payload, ct);
      assert.equal(res.statusCode, status, res.body.slice(0, 300));
      const body = res.json<{ code?: string; rejected?: Array<{ code: string }> }>();
      if (code === undefined) return;
      if (status === 200)
        assert.ok(
          body.rejected?.some((r) => r.code === code),
          res.body.slice(0, 300),
        );
      else assert.equal(body.code, code);
      if (code === 'TALLY_EVENT_INVALID_UTF8') {
        // refused, never read as U+FFFD and accepted; the message names the byte
        assert.equal(res.json<{ accepted: number }>().accepted, name.includes('array') ? 1 : 0);
        assert.match(res.body, /not valid UTF-8: byte 0x[0-9A-F]{2} at byte \d+/);
      }
      if (status === 413 && name.includes('maxRecordsPerRequest')) {
        assert.match(res.body, /more than 100000 records \(http.maxRecordsPerRequest\)/);
      }
    });
  }

  test('no prototype was polluted, and the server still answers', async () => {
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal((await t.server.inject({ url: '/healthz' })).statusCode, 200);
  });

  test('query parameters of every kind: 400 naming the parameter', async () => {
    for (const q of [
      'count=%E1%B3%AC',
      'count=0',
      'count=1e3',
      'count=%2010',
      'window=-1',
      'window=99999999',
      'to=%3E',
      'to=2026-02-30T00:00:00Z',
      'to=99999999999999999999',
      'filter=__dict__',
      'filter=__proto__',
      'filter=constructor',
      'filter=country=XX',
      'filter=country%3DUS%00',
      'filter=ip=999.1.1.1',
      'nope=1',
    ]) {
      const res = await t.server.inject({ url: `/v1/ads/popular_ads?${q}` });
      assert.equal(res.statusCode, 400, `${q}: ${res.body}`);
      const e = res.json<{ parameter?: string; code: string }>();
      assert.equal(e.code, 'TALLY_BAD_PARAMETER', q);
      assert.ok(e.parameter, q);
    }
  });

  test('property: arbitrary requests through inject() never get a 5xx', async () => {
    const methods = fc.constantFrom(
      'GET',
      'POST',
      'PUT',
      'DELETE',
      'PATCH',
      'OPTIONS',
      'TRACE',
      'HEAD',
    );
    const path = fc.oneof(
      fc.constantFrom(
        '/v1/clicks',
        '/v1/ads/popular_ads',
        '/v1/status',
        '/healthz',
        '/metrics',
        '/',
      ),
      fc.string({ maxLength: 40 }).map((s) => `/v1/ads/${encodeURIComponent(s)}/aggregated_count`),
      fc.string({ maxLength: 40 }).map((s) => `/v1/ads/a/${encodeURIComponent(s)}`),
    );
    const query = fc.dictionary(
      fc.constantFrom('count', 'window', 'from', 'to', 'filter', 'x'),
      fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 10 })),
      { maxKeys: 4 },
    );
    const body = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 4 }),
      fc.constant(click()),
    );
    const ct = fc.constantFrom(
      'application/x-ndjson',
      'application/json',
      'text/plain',
      'text/html',
      undefined,
    );
    await fc.assert(
      fc.asyncProperty(methods, path, query, body, ct, async (method, p, q, b, c) => {
        drawn++;
        const res = await t.server.inject({
          method,
          url: `${p}?${new URLSearchParams(q as Record<string, string>).toString()}`,
          headers: c === undefined ? {} : { 'content-type': c },
          ...(method === 'GET' || method === 'HEAD' ? {} : { payload: b }),
        });
        assert.ok(
          res.statusCode < 500,
          `${method} ${p} → ${res.statusCode} ${res.body.slice(0, 200)}`,
        );
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('property-based fuzzing of the core (no exception out of it)', () => {
  const encoder = new BatchEncoder();
  const contentType = fc.constantFrom(
    'application/x-ndjson',
    'application/json',
    'text/plain',
    undefined,
  );
  // JSON-ish bytes: mostly the characters JSON is made of, so the scanner gets far
  const jsonish = fc.string({
    unit: fc.constantFrom(
      ...'{}[]":,0123456789.eE-+ \n\tatrufnl_\\xu'.split(''),
      'ad_id',
      'timestamp',
      '"ad-1"',
      '\u00ff',
      '\ud800',
    ),
    maxLength: 80,
  });

  test('the body encoder: 600,000 bodies (text and bytes, every content type)', () => {
    const bytes = fc.uint8Array({ maxLength: 64 });
    fc.assert(
      fc.property(
        fc.oneof(jsonish, bytes, fc.string({ maxLength: 40 })),
        contentType,
        (body, ct) => {
          drawn++;
          const b = encoder.encodeBody(body, ct, OPTS);
          assert.ok(b.accepted + b.rejected.length === b.records);
        },
      ),
      { numRuns: 600_000 },
    );
  });

  test('the NDJSON stream encoder: 100,000 streams', () => {
    fc.assert(
      fc.property(fc.array(jsonish, { maxLength: 6 }), (lines) => {
        drawn++;
        const b = encoder.encodeNdjson(new TextEncoder().encode(lines.join('\n')), OPTS);
        assert.ok(b.accepted + b.rejected.length === b.records);
      }),
      { numRuns: 100_000 },
    );
  });

  test('every query parameter parser: 300,000 values, a value or a TALLY_BAD_PARAMETER', () => {
    const value = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.integer().map(String),
    );
    const only400 = (run: () => unknown) => {
      try {
        run();
      } catch (e) {
        assert.ok(isTallyError(e) && e.code === 'TALLY_BAD_PARAMETER', String(e));
      }
    };
    const named = { '001': 'country=US' };
    fc.assert(
      fc.property(value, value, (a, b) => {
        drawn += 3;
        only400(() => parseIntParam('count', a, 100, 1, 10_000));
        only400(() => parseTime('to', a));
        only400(() => parseRange(a, b, NOW, 1_000));
        only400(() => parseFilter(a, named));
        only400(() => parseFilter(`country=${a};user_id=${b}`, named));
      }),
      { numRuns: 100_000 },
    );
  });

  test('10⁶ inputs in all', () => {
    assert.ok(drawn >= 1_000_000, `only ${drawn} inputs drawn`);
  });
});

describe('requests the HTTP parser refuses, over a real socket', () => {
  let t: TestServer;
  let port: number;
  before(async () => {
    t = await openTestServer();
    await t.server.listen({ host: '127.0.0.1', port: 0 });
    port = (t.server.server.address() as AddressInfo).port;
  });
  after(() => t.close());

  const raw = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.end(text));
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });

  const head = 'POST /v1/clicks HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n';
  const cases: Array<[string, string, number, string, RegExp]> = [
    [
      'a Content-Length that is not a number',
      `${head}Content-Length: abc\r\n\r\n{}`,
      400,
      'TALLY_BAD_REQUEST',
      /not a valid HTTP\/1.1 request: .*Content-Length/i,
    ],
    [
      'broken chunked encoding',
      `${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      400,
      'TALLY_BAD_REQUEST',
      /not a valid HTTP\/1.1 request: .*chunk/i,
    ],
    [
      '20 KB of headers',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
      'TALLY_HEADERS_TOO_LARGE',
      /16 KiB/,
    ],
  ];
  for (const [name, text, status, code, message] of cases) {
    test(`${name} → ${status} ${code}, in the JSON error shape`, async () => {
      const answer = await raw(text);
      assert.match(answer, new RegExp(`^HTTP/1.1 ${status} `), answer);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
        code: string;
        error: string;
      };
      assert.equal(body.code, code);
      assert.match(body.error, message);
    });
  }

  test('the server still answers', async () => {
    assert.match(
      await raw('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1.1 200 /,
    );
  });
});
