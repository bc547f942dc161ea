import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MINUTE,
  ndjson,
  openTestServer,
  pastMinute,
  type ErrorShape,
  type TestServer,
} from './helpers.js';

interface Click {
  ad_id: string;
  timestamp: number;
  event_id: string;
  country?: string;
  user_id?: string;
}

const m0 = pastMinute(20);
const m = (k: number, s = 0) => m0 + k * MINUTE + s * 1000;
const iso = (t: number) => new Date(t).toISOString();

/** A small fixture with ties, a duplicate, countries and users, over minutes m0..m2. */
function fixture(): Click[] {
  const out: Click[] = [];
  let n = 0;
  const add = (ad: string, t: number, country?: string, user?: string) =>
    out.push({
      ad_id: ad,
      timestamp: t,
      event_id: `f-${n++}`,
      ...(country ? { country } : {}),
      ...(user ? { user_id: user } : {}),
    });
  add('ad-a', m(0, 1), 'US', 'u1');
  add('ad-a', m(0, 2), 'US', 'u1');
  add('ad-a', m(0, 3), 'CA');
  add('ad-a', m(1, 4), 'FR');
  add('ad-a', m(1, 5));
  add('ad-a', m(2, 6), 'US');
  add('ad-b', m(0, 7), 'US');
  for (let i = 0; i < 3; i++) add('ad-b', m(1, 10 + i), 'US');
  for (let i = 0; i < 2; i++) add('ad-b', m(1, 20 + i), 'CA');
  add('ad-c', m(1, 30), 'DE');
  add('ad-c', m(1, 31), 'DE');
  for (let i = 0; i < 4; i++) add('ad-c', m(2, 40 + i), 'US');
  for (let i = 0; i < 4; i++) add('ad-d', m(2, 50 + i), 'CA');
  add('popular_ads', m(0, 59), 'US');
  return out;
}

const EVENTS = fixture();

/** The oracle: distinct events of an ad in minutes from ≤ minute < to, optionally by country. */
function expectedCount(ad: string | undefined, from: number, to: number, countries?: string[]) {
  return EVENTS.filter((e) => {
    const minute = Math.floor(e.timestamp / MINUTE) * MINUTE;
    return (
      (ad === undefined || e.ad_id === ad) &&
      minute >= from &&
      minute < to &&
      (countries === undefined || (e.country !== undefined && countries.includes(e.country)))
    );
  }).length;
}

function expectedTop(from: number, to: number, n: number, countries?: string[]) {
  const ads = [...new Set(EVENTS.map((e) => e.ad_id))];
  return ads
    .map((ad) => ({ ad_id: ad, count: expectedCount(ad, from, to, countries) }))
    .filter((a) => a.count > 0)
    .sort((a, b) => b.count - a.count || (a.ad_id < b.ad_id ? -1 : 1))
    .slice(0, n);
}

describe('query routes', () => {
  let t: TestServer;
  const get = (url: string) => t.server.inject({ method: 'GET', url });

  before(async () => {
    // a long idle timeout: the watermark stays with the data, so drain closes exactly up to m3
    t = await openTestServer({ aggregation: { idleTimeoutMs: 600_000 } });
    const withDuplicate = [...EVENTS, EVENTS[0]!, EVENTS[5]!];
    const res = await t.server.inject({
      method: 'POST',
      url: '/v1/clicks',
      headers: { 'content-type': 'application/x-ndjson' },
      payload: ndjson(withDuplicate),
    });
    assert.equal(res.statusCode, 200, res.body);
    await t.app.runner.drain();
  });
  after(() => t.close());

  test('aggregated_count: exact per ad over aligned and unaligned ranges', async () => {
    const ranges: Array<[number, number]> = [
      [m(0), m(3)],
      [m(0), m(1)],
      [m(1), m(2)],
      [m(1), m(3)],
      [m(0, 30), m(2, 30)], // minutes m with from ≤ m < to: m1, m2
      [m(2), m(2)],
      [m(-60), m(60)],
    ];
    for (const ad of ['ad-a', 'ad-b', 'ad-c', 'ad-d', 'popular_ads', 'ad-none']) {
      for (const [from, to] of ranges) {
        const res = await get(`/v1/ads/${ad}/aggregated_count?from=${iso(from)}&to=${iso(to)}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), {
          ad_id: ad,
          count: expectedCount(ad, from, to),
          from: iso(from),
          to: iso(to),
        });
      }
    }
  });

  test('aggregated_count: epoch-ms times, defaults, filters (pre-aggregated, named, raw)', async () => {
    const a = await get(`/v1/ads/ad-b/aggregated_count?from=${m(1)}&to=${m(2)}`);
    assert.equal(a.json<{ count: number }>().count, 5);
    const def = await get('/v1/ads/ad-b/aggregated_count');
    assert.equal(def.statusCode, 200);
    const d = def.json<{ from: string; to: string; count: number }>();
    assert.equal(Date.parse(d.to) - Date.parse(d.from), MINUTE, 'default range: the last minute');
    assert.equal(d.count, 0);
    const range = `from=${m(0)}&to=${m(3)}`;
    const us = await get(`/v1/ads/ad-a/aggregated_count?${range}&filter=country=US`);
    assert.equal(us.json<{ count: number }>().count, expectedCount('ad-a', m(0), m(3), ['US']));
    const named = await get(`/v1/ads/ad-a/aggregated_count?${range}&filter=001`);
    assert.equal(named.json<{ count: number }>().count, 3);
    const multi = await get(`/v1/ads/ad-b/aggregated_count?${range}&filter=country%3DUS%2Cca`);
    assert.equal(multi.json<{ count: number }>().count, 6);
    const raw = await get(`/v1/ads/ad-a/aggregated_count?${range}&filter=user_id%3Du1`);
    assert.equal(raw.statusCode, 200, raw.body);
    assert.equal(
      raw.json<{ count: number }>().count,
      2,
      'raw filters read the log, duplicates once',
    );
  });

  test('popular_ads: exact top N, ties by ad_id, for windows 1/5/60, with and without filter', async () => {
    for (const to of [m(1), m(2), m(3), m(4)]) {
      for (const window of [1, 5, 60]) {
        for (const count of [1, 2, 3, 100]) {
          for (const countries of [undefined, ['US'], ['US', 'CA']]) {
            const f = countries ? `&filter=country=${countries.join(',')}` : '';
            const res = await get(
              `/v1/ads/popular_ads?count=${count}&window=${window}&to=${iso(to)}${f}`,
            );
            assert.equal(res.statusCode, 200, res.body);
            const ads = expectedTop(to - window * MINUTE, to, count, countries);
            assert.deepEqual(
              res.json(),
              { window, to: iso(to), ad_ids: ads.map((a) => a.ad_id), ads },
              `to=${iso(to)} window=${window} count=${count} filter=${String(countries)}`,
            );
          }
        }
      }
    }
  });

  test('popular_ads: `to` defaults to the end of the last closed minute', async () => {
    const res = await get('/v1/ads/popular_ads?window=60');
    assert.equal(res.statusCode, 200, res.body);
    const r = res.json<{ to: string; ad_ids: string[] }>();
    assert.equal(r.to, iso(m(3)), 'drain closed minutes up to the last one with data');
    assert.deepEqual(r.ad_ids, ['ad-a', 'ad-b', 'ad-c', 'ad-d', 'popular_ads']);
    const one = await get('/v1/ads/popular_ads');
    assert.deepEqual(one.json<{ ad_ids: string[] }>().ad_ids, ['ad-c', 'ad-d', 'ad-a']);
  });

  test('popular_ads is a route, not an ad_id; an ad may still be called popular_ads', async () => {
    const res = await get('/v1/ads/popular_ads/');
    assert.equal(res.statusCode, 200);
    assert.ok('ad_ids' in res.json<object>());
    const ad = await get(`/v1/ads/popular_ads/aggregated_count?from=${m(0)}&to=${m(3)}`);
    assert.deepEqual(ad.json(), { ad_id: 'popular_ads', count: 1, from: iso(m(0)), to: iso(m(3)) });
  });

  test('timeseries: one point per minute, zeros included, totals match', async () => {
    const res = await get(`/v1/ads/ad-a/timeseries?from=${iso(m(-1))}&to=${iso(m(4))}`);
    assert.equal(res.statusCode, 200, res.body);
    const points = [-1, 0, 1, 2, 3].map((k) => ({
      minute: iso(m(k)),
      count: expectedCount('ad-a', m(k), m(k + 1)),
    }));
    assert.deepEqual(res.json(), {
      ad_id: 'ad-a',
      from: iso(m(-1)),
      to: iso(m(4)),
      count: 6,
      points,
    });
    const us = await get(`/v1/ads/ad-a/timeseries?from=${m(0)}&to=${m(3)}&filter=country=US`);
    assert.deepEqual(
      us.json<{ points: Array<{ count: number }> }>().points.map((p) => p.count),
      [2, 0, 1],
    );
    const def = await get('/v1/ads/ad-a/timeseries');
    assert.equal(def.json<{ points: unknown[] }>().points.length, 60, 'default: the last hour');
  });

  const badParameters: Array<[string, string, RegExp?]> = [
    ['/v1/ads/bad!id/aggregated_count', 'ad_id'],
    ['/v1/ads/bad%20id/timeseries', 'ad_id'],
    [`/v1/ads/${'x'.repeat(65)}/aggregated_count`, 'ad_id'],
    [`/v1/ads/${'x'.repeat(5000)}/aggregated_count`, 'ad_id'],
    ['/v1/ads/ad-a/aggregated_count?from=yesterday', 'from', /ISO-8601/],
    ['/v1/ads/ad-a/aggregated_count?from=2026-01-01T00:00:00', 'from', /zone/],
    ['/v1/ads/ad-a/aggregated_count?to=2026-01-01', 'to'],
    ['/v1/ads/ad-a/aggregated_count?to=99999999999999999999', 'to'],
    [`/v1/ads/ad-a/aggregated_count?from=${m(2)}&to=${m(1)}`, 'from', /after/],
    [`/v1/ads/ad-a/timeseries?from=${m(2)}&to=${m(1)}`, 'from', /after/],
    [`/v1/ads/ad-a/timeseries?from=${m(0) - 8 * 24 * 60 * MINUTE}&to=${m(0)}`, 'from', /at most/],
    ['/v1/ads/ad-a/aggregated_count?filter=colour=red', 'filter', /unknown attribute/],
    ['/v1/ads/ad-a/aggregated_count?filter=999', 'filter', /named filter/],
    ['/v1/ads/ad-a/aggregated_count?filter=country=USA', 'filter', /country/],
    ['/v1/ads/ad-a/aggregated_count?filter=country=', 'filter'],
    ['/v1/ads/ad-a/timeseries?filter=ip', 'filter'],
    ['/v1/ads/ad-a/aggregated_count?form=1', 'form', /unknown/],
    ['/v1/ads/ad-a/aggregated_count?from=1&from=2', 'from'],
    ['/v1/ads/popular_ads?count=0', 'count', /1 to 10000/],
    ['/v1/ads/popular_ads?count=-1', 'count'],
    ['/v1/ads/popular_ads?count=1.5', 'count'],
    ['/v1/ads/popular_ads?count=ten', 'count'],
    ['/v1/ads/popular_ads?count=10001', 'count'],
    ['/v1/ads/popular_ads?count=99999999999999999999999', 'count'],
    ['/v1/ads/popular_ads?count=1&count=2', 'count'],
    ['/v1/ads/popular_ads?window=0', 'window'],
    ['/v1/ads/popular_ads?window=-5', 'window'],
    ['/v1/ads/popular_ads?window=2.5', 'window'],
    ['/v1/ads/popular_ads?window=1e3', 'window'],
    ['/v1/ads/popular_ads?window=1000000000', 'window'],
    ['/v1/ads/popular_ads?to=soon', 'to'],
    ['/v1/ads/popular_ads?filter=colour=red', 'filter', /unknown attribute/],
    ['/v1/ads/popular_ads?filter=nosuchfilter', 'filter', /named filter/],
    ['/v1/ads/popular_ads?windw=5', 'windw', /unknown/],
  ];
  for (const [url, param, message] of badParameters) {
    test(`400 naming ${param}: ${url.slice(0, 90)}`, async () => {
      const res = await get(url);
      assert.equal(res.statusCode, 400, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const e = res.json<ErrorShape>();
      assert.equal(e.code, 'TALLY_BAD_PARAMETER');
      assert.equal(e.parameter, param);
      assert.equal(e.field, param);
      assert.ok(e.error.startsWith(`${param}:`), e.error);
      if (message) assert.match(e.error, message);
    });
  }

  test('400 naming from: an impossible date (Feb 30) is refused, not rolled over', async () => {
    const res = await get('/v1/ads/ad-a/aggregated_count?from=2026-02-30T00:00:00Z');
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json<ErrorShape>().parameter, 'from');
  });

  test('every bad request leaves the server serving', async () => {
    const res = await get(`/v1/ads/ad-a/aggregated_count?from=${m(0)}&to=${m(3)}`);
    assert.equal(res.json<{ count: number }>().count, 6);
  });
});
