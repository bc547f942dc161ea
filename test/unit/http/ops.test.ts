import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle } from '../../../src/services/http/lifecycle.js';
import { httpDepsFromEmbedded } from '../../../src/app/http.js';
import { ndjson, openTestServer, pastMinute, type ErrorShape, type TestServer } from './helpers.js';

type Json = Record<string, unknown>;

describe('operations routes', () => {
  let t: TestServer;
  const get = (url: string) => t.server.inject({ method: 'GET', url });

  before(async () => {
    t = await openTestServer({ log: { partitions: 3 } });
    // a route that fails unexpectedly, to see the 500 path of the real error handler
    t.server.get('/test-only/boom', async () => {
      throw new Error('secret detail at /var/lib/tally');
    });
    const t0 = pastMinute(5);
    await t.server.inject({
      method: 'POST',
      url: '/v1/clicks',
      headers: { 'content-type': 'application/x-ndjson' },
      payload:
        ndjson([
          { ad_id: 'ad-1', timestamp: t0, event_id: 'a' },
          { ad_id: 'ad-1', timestamp: t0, event_id: 'a' },
          { ad_id: 'ad-2', timestamp: t0 + 1000, event_id: 'b' },
        ]) + '{broken\n',
    });
    await t.app.runner.drain();
  });
  after(() => t.close());

  test('/v1/status: partitions, offsets, watermarks, totals, config', async () => {
    const res = await get('/v1/status');
    assert.equal(res.statusCode, 200, res.body);
    const s = res.json<{
      partitions: Array<Json & { end_offset: number; committed_offset: number; lag: number }>;
      totals: Json;
      watermark: string | null;
      closed_up_to: string;
      lag: number;
      config: Json;
      uptime_seconds: number;
    }>();
    assert.equal(s.partitions.length, 3);
    for (const [i, p] of s.partitions.entries()) {
      assert.equal(p['partition'], i);
      assert.equal(p.lag, p.end_offset - p.committed_offset);
      assert.equal(p.lag, 0, 'drained');
      assert.equal(typeof p['idle'], 'boolean');
      assert.ok(p['watermark'] === null || typeof p['watermark'] === 'string');
    }
    assert.equal(s.lag, 0);
    assert.deepEqual(s.totals, { appended: 3, events: 2, duplicates: 1, late: 0, dead_letters: 1 });
    assert.ok(s.watermark !== null && Date.parse(s.watermark) > 0);
    assert.ok(Date.parse(s.closed_up_to) <= Date.parse(s.watermark));
    assert.equal(s.config['partitions'], 3);
    assert.deepEqual(s.config['dimensions'], ['country']);
    assert.deepEqual(s.config['filters'], { '001': 'country=US' });
    assert.ok(s.uptime_seconds >= 0);
  });

  test('/healthz: 200 when ready, 503 while starting and while stopping', async () => {
    const res = await get('/healthz');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      { ...res.json<Json>(), uptime_seconds: 0 },
      {
        status: 'ready',
        live: true,
        ready: true,
        uptime_seconds: 0,
        problems: [],
      },
    );

    const lifecycle = new Lifecycle();
    const s = await openTestServer({}, { deps: (app) => httpDepsFromEmbedded(app, { lifecycle }) });
    try {
      const starting = await s.server.inject({ url: '/healthz' });
      assert.equal(starting.statusCode, 503);
      assert.equal(starting.json<Json>()['status'], 'starting');
      lifecycle.ready();
      assert.equal((await s.server.inject({ url: '/healthz' })).statusCode, 200);
      lifecycle.stopping();
      const stopping = await s.server.inject({ url: '/healthz' });
      assert.equal(stopping.statusCode, 503);
      assert.deepEqual(stopping.json<Json>()['status'], 'stopping');
      lifecycle.ready();
      assert.equal(lifecycle.state, 'stopping', 'a stopping process does not become ready again');
    } finally {
      await s.close();
    }
  });

  test('/metrics: Prometheus text with query latency per route and request counts', async () => {
    await get('/v1/ads/ad-1/aggregated_count');
    await get('/v1/ads/popular_ads');
    await get('/v1/ads/ad-1/timeseries');
    await get('/v1/ads/bad!/timeseries');
    const res = await get('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const text = res.body;
    for (const route of ['aggregated_count', 'popular_ads', 'timeseries']) {
      assert.match(text, new RegExp(`tally_query_seconds_count\\{route="${route}"\\} [1-9]`));
    }
    assert.match(
      text,
      /tally_http_requests_total\{route="\/v1\/ads\/:ad_id\/timeseries",method="GET",status="400"\} 1/,
    );
    assert.match(text, /tally_ingest_events_total\{source="http"\} 3/);
    assert.match(
      text,
      /tally_ingest_rejected_total\{source="http",code="TALLY_EVENT_MALFORMED_JSON"\} 1/,
    );
    // every non-comment line is `name{labels} value`
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.e+-]+|[+-]?Inf|NaN)$/, line);
    }
  });

  test('unknown routes: 404 JSON TALLY_NOT_FOUND, any method', async () => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['GET', '/v1/ads'],
      ['GET', '/v1/ads/ad-1'],
      ['GET', '/v1/ads/ad-1/unknown'],
      ['DELETE', '/v1/nope'],
    ] as const) {
      const res = await t.server.inject({ method, url });
      assert.equal(res.statusCode, 404, `${method} ${url}`);
      const e = res.json<ErrorShape>();
      assert.equal(e.code, 'TALLY_NOT_FOUND');
      assert.match(e.error, new RegExp(`${method} ${url.replace(/\//g, '\\/')}`));
    }
  });

  test('a method a path does not serve: 405 JSON with Allow, on every path', async () => {
    for (const [method, url, allow] of [
      ['DELETE', '/v1/ads/popular_ads', 'GET, HEAD'],
      ['PUT', '/v1/clicks', 'POST'],
      ['TRACE', '/v1/clicks', 'POST'],
      ['PATCH', '/v1/ads/ad-1/timeseries', 'GET, HEAD'],
      ['OPTIONS', '/healthz', 'GET, HEAD'],
      ['POST', '/metrics', 'GET, HEAD'],
      ['DELETE', '/', 'GET, HEAD'],
    ] as const) {
      const res = await t.server.inject({ method, url });
      assert.equal(res.statusCode, 405, `${method} ${url}`);
      assert.equal(res.headers['allow'], allow, `${method} ${url}`);
      assert.equal(res.json<ErrorShape>().code, 'TALLY_METHOD_NOT_ALLOWED');
    }
  });

  test('an undecodable URL → 400 JSON', async () => {
    const res = await get('/v1/ads/%E0%A4%A/aggregated_count');
    assert.equal(res.statusCode, 400);
    assert.equal(res.json<ErrorShape>().code, 'TALLY_BAD_REQUEST');
  });

  test('unexpected errors: 500 TALLY_INTERNAL, no message or stack in the body, still serving', async () => {
    const res = await get('/test-only/boom');
    assert.equal(res.statusCode, 500);
    const e = res.json<ErrorShape & { request_id: string }>();
    assert.equal(e.code, 'TALLY_INTERNAL');
    assert.ok(!res.body.includes('secret'), res.body);
    assert.ok(!res.body.includes('at '), 'no stack trace');
    assert.ok(e.request_id.length > 0);
    assert.equal((await get('/healthz')).statusCode, 200);
  });

  test('GET /: the dashboard, self-contained, with a strict CSP', async () => {
    const res = await get('/');
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html; charset=utf-8/);
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'sha256-/);
    assert.match(res.body, /<script>/);
    assert.doesNotMatch(
      res.body,
      /<script src=|<link rel="stylesheet"|https?:\/\/(?!www\.w3\.org)/,
    );
    assert.match(res.body, /id="top-table"/);
  });
});
