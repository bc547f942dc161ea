/**
 * What the aggregator-group tests share: their config (8 partitions, frequent commits and
 * snapshots, short group timeouts so that a killed member's partitions move within seconds)
 * and the exact check of the PostgreSQL contents against the oracle.
 */
import assert from 'node:assert/strict';
import type { PgAggregateStore } from '../../../src/adapters/store-pg/index.js';
import type { GroupTiming } from '../../../src/adapters/log-kafka/index.js';
import { loadConfig } from '../../../src/config/index.js';
import { compareRanked } from '../../../src/core/aggregate/top-n.js';
import { MINUTE_MS as MINUTE } from '../../../src/core/window/minute.js';
import { countByAdMinute, distinctEvents } from '../../helpers/oracle.js';

export const groupConfig = loadConfig({
  env: {},
  overrides: {
    log: { partitions: 8 },
    aggregation: { commitIntervalMs: 100, snapshotIntervalMs: 700, topN: 5, topWindows: [1, 5] },
  },
});

/** the broker's minimum session timeout: a killed member's partitions move after it */
export const TEST_GROUP: GroupTiming = {
  sessionTimeoutMs: 6_000,
  heartbeatIntervalMs: 300,
  rebalanceTimeoutMs: 6_000,
};

export interface ExactResult {
  events: number;
  late: number;
  topsChecked: number;
}

/**
 * Every distinct valid event of `lines` is in exactly one place: its minute's count or the
 * late records; every window that holds counted data and ends at or before the global
 * watermark the writer committed has its list, the exact top N of the counted events over it
 * (ties by ad id).
 */
export async function assertExact(
  store: PgAggregateStore,
  lines: readonly string[],
  now: number,
  what: string,
): Promise<ExactResult> {
  const expected = countByAdMinute(distinctEvents(lines, now));
  const counted = new Map<string, number>();
  for (const r of await store.rows(-Infinity, Infinity, '*')) {
    counted.set(`${r.adId}|${r.minute}`, r.count);
  }
  const rowsOnly = new Map(counted);
  const late = await store.late(10_000_000);
  for (const l of late) {
    const k = `${l.adId}|${Math.floor(l.timestamp / MINUTE) * MINUTE}`;
    counted.set(k, (counted.get(k) ?? 0) + 1);
  }
  let lost = 0;
  let twice = 0;
  let events = 0;
  for (const [k, n] of expected) {
    events += n;
    const got = counted.get(k) ?? 0;
    if (got < n) lost += n - got;
    if (got > n) twice += got - n;
  }
  for (const [k, got] of counted) if (!expected.has(k)) twice += got;
  assert.equal(lost, 0, `${what}: ${lost} events lost`);
  assert.equal(twice, 0, `${what}: ${twice} events counted twice`);

  // the global top N of each window, from the counted rows (verified above)
  const byMinute = new Map<number, Array<[string, number]>>();
  for (const [k, n] of rowsOnly) {
    const [ad, m] = k.split('|') as [string, string];
    const list = byMinute.get(Number(m)) ?? [];
    list.push([ad, n]);
    byMinute.set(Number(m), list);
  }
  const minutes = [...byMinute.keys()];
  const first = Math.min(...minutes);
  const last = Math.max(...minutes);
  const { topN, topWindows } = groupConfig.aggregation;
  const watermark = (await store.writerState()).watermark;
  let topsChecked = 0;
  for (const w of topWindows) {
    for (let end = first + MINUTE; end <= Math.min(last + w * MINUTE, watermark); end += MINUTE) {
      const totals = new Map<string, number>();
      for (let m = end - w * MINUTE; m < end; m += MINUTE)
        for (const [ad, n] of byMinute.get(m) ?? []) totals.set(ad, (totals.get(ad) ?? 0) + n);
      const want = [...totals]
        .map(([adId, count]) => ({ adId, count }))
        .sort(compareRanked)
        .slice(0, topN);
      const stored = await store.storedTop(w, end);
      if (want.length === 0) continue;
      assert.ok(stored !== undefined, `${what}: no top list for window ${w} ending ${end}`);
      assert.deepEqual(stored.ads, want, `${what}: top of window ${w} ending ${end}`);
      topsChecked++;
      // the merged lists per country are those of the rows of that country
      for (const dim of ['country=US', 'country=IN', 'country=BR', 'country=GB']) {
        const of = await store.top(end - w * MINUTE, end, topN, { dims: [dim] });
        const listed = await store.storedTop(w, end, dim);
        const at = `${what}: top of ${dim}, window ${w} ending ${end}`;
        if (of.length === 0) assert.equal(listed, undefined, at);
        else assert.deepEqual(listed?.ads, of, at);
        topsChecked++;
      }
    }
  }
  return { events, late: late.length, topsChecked };
}
