import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MINUTE,
  Oracle,
  floorMinute,
  generateTraffic,
  getJson,
  postNdjson,
  startLiveServer,
  waitUntilClosed,
  type GeneratedLine,
  type LiveServer,
  type StatusLike,
} from './http-support.js';

const BATCH = 1000;
const iso = (t: number) => new Date(t).toISOString();

/**
 * Through a real socket: generated traffic (several ads over ~15 minutes, half an hour ago,
 * with duplicates and invalid lines) is POSTed in 1000-line NDJSON batches; once the
 * aggregator has closed every minute, every answer of the query API is compared with an
 * oracle computed from the same lines.
 */
describe('HTTP end to end: ingest → aggregate → query', () => {
  let s: LiveServer;
  let lines: GeneratedLine[];
  let oracle: Oracle;
  let status: StatusLike;

  before(async () => {
    s = await startLiveServer();
    lines = generateTraffic({
      seed: 20261125,
      count: 20_000,
      startTime: floorMinute(Date.now()) - 30 * MINUTE,
      ads: 40,
      eventsPerSecond: 22, // ~15 minutes of event time
      duplicateRate: 0.05,
      invalidRate: 0.01,
      lateRate: 0,
    });
    oracle = new Oracle(lines);
  });
  after(() => s.close());

  test('batches are answered once durable: accepted and rejected line up with the generator', async () => {
    for (let i = 0; i < lines.length; i += BATCH) {
      const batch = lines.slice(i, i + BATCH);
      const r = await postNdjson(
        s.base,
        batch.map((l) => l.line),
      );
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const rejected = r.body['rejected'] as Array<{ index: number }>;
      const invalid = batch.flatMap((l, k) => (l.kind === 'invalid' ? [k] : []));
      assert.deepEqual(
        rejected.map((x) => x.index),
        invalid,
      );
      assert.equal(r.body['accepted'], batch.length - invalid.length);
    }
    status = await waitUntilClosed(s.base, oracle.lastMinute + MINUTE);
  });

  test('status totals: every distinct event counted once, duplicates dropped, nothing late', () => {
    const count = (k: GeneratedLine['kind']) => lines.filter((l) => l.kind === k).length;
    assert.equal(status.totals.events, count('valid'));
    assert.equal(status.totals.duplicates, count('duplicate'));
    assert.equal(status.totals.late, 0);
    assert.equal(status.totals.dead_letters, count('invalid'));
    assert.equal(status.totals.appended, count('valid') + count('duplicate'));
  });

  test('aggregated_count: every ad, every minute, and wider ranges', async () => {
    const { firstMinute: first, lastMinute: last } = oracle;
    const ranges: Array<[number, number]> = [[first - MINUTE, last + 2 * MINUTE]];
    for (let m = first - MINUTE; m <= last + MINUTE; m += MINUTE) ranges.push([m, m + MINUTE]);
    ranges.push([first + 3 * MINUTE, first + 8 * MINUTE], [first + 30_000, last - 30_000]);
    let checked = 0;
    for (const ad of [...oracle.ads, 'ad-unknown']) {
      for (const [from, to] of ranges) {
        const r = await getJson<{ count: number }>(
          `${s.base}/v1/ads/${ad}/aggregated_count?from=${iso(from)}&to=${iso(to)}`,
        );
        assert.equal(r.count, oracle.count(ad, from, to), `${ad} [${iso(from)}, ${iso(to)})`);
        checked++;
      }
      const us = await getJson<{ count: number }>(
        `${s.base}/v1/ads/${ad}/aggregated_count?from=${first}&to=${last + MINUTE}&filter=001`,
      );
      assert.equal(us.count, oracle.count(ad, first, last + MINUTE, ['US']), `${ad} US`);
    }
    assert.ok(checked > 500);

    // SPEC §3 defaults: `to` is the end of the last closed minute (as for popular_ads), `from`
    // one minute before it; with `from` alone the answer is the final count since `from`
    const top = await getJson<{ to: string }>(`${s.base}/v1/ads/popular_ads`);
    const ad = oracle.ads[0]!;
    const def = await getJson<{ count: number; from: string; to: string }>(
      `${s.base}/v1/ads/${ad}/aggregated_count`,
    );
    assert.equal(def.to, top.to);
    assert.equal(Date.parse(def.from), Date.parse(def.to) - MINUTE);
    assert.equal(def.count, oracle.count(ad, Date.parse(def.from), Date.parse(def.to)));
    const since = await getJson<{ count: number; to: string }>(
      `${s.base}/v1/ads/${ad}/aggregated_count?from=${iso(first)}`,
    );
    assert.equal(since.to, top.to);
    assert.ok(since.count > 0);
    assert.equal(since.count, oracle.count(ad, first, Date.parse(top.to)));
  });

  test('popular_ads: windows 1, 5 and 60, with and without a country filter', async () => {
    const filters: Array<[string, string[] | undefined]> = [
      ['', undefined],
      ['&filter=country=US', ['US']],
      ['&filter=country=US,IN,BR', ['US', 'IN', 'BR']],
      ['&filter=001', ['US']],
    ];
    for (let to = oracle.firstMinute + MINUTE; to <= oracle.lastMinute + 2 * MINUTE; to += MINUTE) {
      for (const window of [1, 5, 60]) {
        for (const [f, countries] of filters) {
          for (const count of [100, 5]) {
            const r = await getJson<{
              ads: unknown[];
              ad_ids: string[];
              to: string;
              window: number;
            }>(`${s.base}/v1/ads/popular_ads?window=${window}&count=${count}&to=${iso(to)}${f}`);
            const expected = oracle.top(to - window * MINUTE, to, count, countries);
            assert.deepEqual(r.ads, expected, `to=${iso(to)} window=${window} count=${count}${f}`);
            assert.deepEqual(
              r.ad_ids,
              expected.map((a) => a.ad_id),
            );
            assert.equal(r.window, window);
          }
        }
      }
    }
    // the default `to`: the last closed minute, after the data: windows 1 and 5 are empty
    const def = await getJson<{ ads: unknown[]; to: string }>(
      `${s.base}/v1/ads/popular_ads?window=60`,
    );
    const to = Date.parse(def.to);
    assert.ok(to > oracle.lastMinute);
    assert.deepEqual(def.ads, oracle.top(to - 60 * MINUTE, to, 100));
  });

  test('popular_ads with one country: the stored per-value list, equal to the GROUP BY answer', async () => {
    const filters: Array<[string, string]> = [
      ['country=US', 'country=US'],
      ['001', 'country=US'],
      ['country=in', 'country=IN'],
      ['country=CA', 'country=CA'],
      ['country=BR', 'country=BR'],
    ];
    let stored = 0;
    for (let to = oracle.firstMinute + MINUTE; to <= oracle.lastMinute + 2 * MINUTE; to += MINUTE) {
      for (const window of [1, 5, 60]) {
        const from = to - window * MINUTE;
        for (const [f, dim] of filters) {
          const url = `${s.base}/v1/ads/popular_ads?window=${window}&to=${iso(to)}&filter=${f}`;
          // count ≤ topN (100) reads the stored list; 101 is answered by the GROUP BY
          const fast = await getJson<{ ads: unknown[] }>(`${url}&count=100`);
          const slow = await getJson<{ ads: unknown[] }>(`${url}&count=101`);
          assert.deepEqual(fast.ads, slow.ads, `${f} window ${window} to ${iso(to)}`);
          const list = await s.app.store.storedTop(window, to, dim);
          const grouped = await s.app.store.top(from, to, 100, { dims: [dim] });
          if (grouped.length > 0) {
            // every (window, end) with events of the value has its list, as the GROUP BY
            assert.deepEqual(list?.ads, grouped, `stored ${dim} window ${window} to ${iso(to)}`);
            stored++;
          } else assert.equal(list, undefined);
        }
      }
    }
    assert.ok(stored > 100, `${stored} stored lists checked`);
  });

  test('timeseries: per-minute points of every ad', async () => {
    const from = oracle.firstMinute - MINUTE;
    const to = oracle.lastMinute + 2 * MINUTE;
    for (const ad of oracle.ads) {
      const r = await getJson<{ count: number; points: Array<{ minute: string; count: number }> }>(
        `${s.base}/v1/ads/${ad}/timeseries?from=${from}&to=${to}`,
      );
      const expected = [];
      for (let m = from; m < to; m += MINUTE) {
        expected.push({ minute: iso(m), count: oracle.count(ad, m, m + MINUTE) });
      }
      assert.deepEqual(r.points, expected, ad);
      assert.equal(r.count, oracle.count(ad, from, to));
      const ca = await getJson<{ count: number }>(
        `${s.base}/v1/ads/${ad}/timeseries?from=${from}&to=${to}&filter=country=CA`,
      );
      assert.equal(ca.count, oracle.count(ad, from, to, ['CA']), `${ad} CA`);
    }
  });
});
