/**
 * Retention by rollup, against the minute rows it replaces: random minute rows over three
 * days, rolled up to hours and days at random positions in a real SQLite store, then every
 * range the rollups can answer (whole days before the hour position, whole hours before the
 * minute position, any minutes after) asked for count, timeseries and top-N, each compared
 * with the sums of the original minute rows. A range that would split a rolled hour or day is
 * refused, never answered approximately.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { openSqliteStore } from '../../src/adapters/store-sqlite/index.js';
import { isTallyError } from '../../src/core/errors.js';
import type { MinuteRow } from '../../src/ports/aggregates.js';
import { batch } from '../contract/aggregate-store.contract.js';
import { tempDir } from '../helpers/cli.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const BASE = Date.UTC(2026, 0, 1);
const ADS = ['a', 'b', 'c', 'ad-10'];
const DIMS = ['*', 'country=US', 'country=FR'];

const rowArb = fc.record({
  minute: fc.integer({ min: 0, max: 3 * 1440 - 1 }),
  ad: fc.integer({ min: 0, max: ADS.length - 1 }),
  dim: fc.integer({ min: 0, max: DIMS.length - 1 }),
  count: fc.integer({ min: 1, max: 50 }),
});

function oracleSum(rows: MinuteRow[], ad: string | null, dims: string[], from: number, to: number) {
  const byAd = new Map<string, number>();
  for (const r of rows)
    if (r.minute >= from && r.minute < to && dims.includes(r.dim) && (ad === null || r.adId === ad))
      byAd.set(r.adId, (byAd.get(r.adId) ?? 0) + r.count);
  return byAd;
}

describe('retention: rollups answer what the minute rows they replace answered', () => {
  it('for every range they can answer (property)', async () => {
    const t = tempDir('rollup');
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(rowArb, { minLength: 1, maxLength: 300 }),
          fc.integer({ min: 0, max: 72 }),
          fc.integer({ min: 0, max: 3 }),
          fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 3 })), {
            minLength: 1,
            maxLength: 12,
          }),
          async (specs, hours, days, asks) => {
            const store = await openSqliteStore({ file: join(t.dir, `s${run++}.sqlite`) });
            try {
              const keyed = new Map<string, MinuteRow>();
              for (const s of specs) {
                const r = {
                  minute: BASE + s.minute * MIN,
                  adId: ADS[s.ad]!,
                  dim: DIMS[s.dim]!,
                  count: s.count,
                };
                keyed.set(`${r.minute}/${r.dim}/${r.adId}`, r);
              }
              const rows = [...keyed.values()];
              await store.commit(batch({ rows }));
              const minutesBefore = BASE + hours * HOUR;
              const hoursBefore = Math.min(BASE + days * DAY, minutesBefore);
              const first = await store.rollUp(minutesBefore, hoursBefore);
              const again = await store.rollUp(minutesBefore, hoursBefore);
              assert.equal(again.hoursRolled + again.daysRolled, 0, 'a second pass rolls nothing');
              const H = Math.floor(hoursBefore / DAY) * DAY;
              assert.deepEqual(first.position, { minutesFrom: minutesBefore, hoursFrom: H });

              // the edges a range may have: days before H, hours before M, minutes after
              const edges: number[] = [-Infinity, Infinity];
              for (let d = BASE - DAY; d <= H; d += DAY) edges.push(d);
              for (let h = H; h <= minutesBefore; h += HOUR) edges.push(h);
              for (let x = minutesBefore; x <= BASE + 3 * DAY + MIN; x += 7 * MIN) edges.push(x);
              for (const [i, j, f] of asks) {
                const a = edges[i % edges.length]!;
                const b = edges[j % edges.length]!;
                const [from, to] = a <= b ? [a, b] : [b, a];
                const dims =
                  f === 0 ? ['*'] : f === 1 ? ['country=US'] : ['country=US', 'country=FR'];
                const filter = f === 0 ? undefined : { dims };
                const want = oracleSum(rows, null, dims, from, to);
                for (const ad of ADS) {
                  const n = await store.count(ad, from, to, filter);
                  assert.equal(n, want.get(ad) ?? 0, `count ${ad} [${from}, ${to}) ${dims}`);
                  const series = await store.timeseries(ad, from, to, filter);
                  assert.equal(
                    series.reduce((s, p) => s + p.count, 0),
                    n,
                    'timeseries sums to count',
                  );
                }
                const top = await store.top(from, to, 3, filter);
                const expected = [...want]
                  .map(([adId, count]) => ({ adId, count }))
                  .sort((x, y) => y.count - x.count || (x.adId < y.adId ? -1 : 1))
                  .slice(0, 3);
                assert.deepEqual(top, expected, `top [${from}, ${to})`);
              }
              // a range that splits a rolled hour is refused
              if (minutesBefore > BASE + HOUR && hours > days * 24 + 1) {
                await assert.rejects(
                  store.count('a', minutesBefore - HOUR + MIN, Infinity),
                  (e: unknown) => isTallyError(e) && e.code === 'TALLY_BAD_PARAMETER',
                );
              }
            } finally {
              await store.close();
            }
          },
        ),
        { numRuns: Number(process.env.TALLY_PROPERTY_RUNS ?? 40) },
      );
    } finally {
      t.cleanup();
    }
  });

  it('leaves an hour under a running repair alone, and refuses repairs of rolled minutes', async () => {
    const t = tempDir('rollup-repair');
    const store = await openSqliteStore({ file: join(t.dir, 's.sqlite') });
    try {
      const rows = [0, 1, 2].map((h) => ({
        minute: BASE + h * HOUR + 5 * MIN,
        adId: 'a',
        dim: '*',
        count: 7,
      }));
      await store.commit(batch({ rows }));
      const seq = (await store.loadCheckpoint('agg')).seq;
      const runId = await store.beginRepair({
        fromMinute: BASE + HOUR,
        toMinute: BASE + HOUR + 30 * MIN,
        startedAt: 0,
        note: 'test',
      });
      const r = await store.rollUp(BASE + 3 * HOUR, -Infinity);
      assert.equal(r.hoursRolled, 1, 'the hour before the repair only');
      assert.equal(r.position.minutesFrom, BASE + HOUR);
      await assert.rejects(
        store.applyRepair({
          runId,
          rows: [
            {
              minute: BASE + 5 * MIN,
              dim: '*',
              adId: 'a',
              oldCount: 7,
              newCount: 8,
              reason: 'store mismatch',
            },
          ],
          tops: [],
          at: 0,
          fence: { consumer: 'agg', seq },
        }),
        (e: unknown) => isTallyError(e) && e.code === 'TALLY_BAD_PARAMETER',
      );
      await store.finishRepair(runId, { finishedAt: 1, lateFromTime: 0, lateToTime: 0 });
      const after = await store.rollUp(BASE + 3 * HOUR, -Infinity);
      assert.equal(after.hoursRolled, 2);
      assert.equal(await store.count('a', -Infinity, Infinity), 21);
    } finally {
      await store.close();
      t.cleanup();
    }
  });
});
