/**
 * The read side. Without the per-ad index, a range is answered by enumerating its minutes and
 * seeking the (minute, dim, ad_id) key once per minute and dimension value: the cost follows the
 * length of the range (clamped to the minutes the table holds), not the size of the table.
 * With the index, count and timeseries scan (ad_id, dim, minute) instead.
 */
import type Database from 'better-sqlite3';
import { MINUTE_MS } from '../../core/window/minute.js';
import type { DimFilter } from '../../ports/aggregate-reader.js';
import type { DimKey, LateRecord, MinuteRow, RankedAd, TopRow } from '../../ports/aggregates.js';
import { ALL_DIMS } from '../../ports/aggregates.js';
import { ceilToMinute, decodeRanked, decodeWatermark } from './codec.js';
import { OPTIONAL_INDEXES } from './schema.js';

export interface Queries {
  count(adId: string, from: number, to: number, filter?: DimFilter): number;
  timeseries(
    adId: string,
    from: number,
    to: number,
    filter?: DimFilter,
  ): Array<{ minute: number; count: number }>;
  top(from: number, to: number, n: number, filter?: DimFilter): RankedAd[];
  rows(from: number, to: number, dim: DimKey): MinuteRow[];
  storedTop(windowMinutes: number, endMinute: number): TopRow | undefined;
  late(limit: number, after?: { partition: number; offset: number }): LateRecord[];
}

/** The minutes of [@from, @to) that can hold rows; @from is aligned by the caller. */
const MINUTES_CTE = `
  WITH RECURSIVE
    bounds(lo, hi) AS (
      SELECT max(@from, (SELECT min(minute) FROM minute_counts)),
             min(@to, (SELECT max(minute) FROM minute_counts) + 1)),
    minutes(minute, hi) AS (
      SELECT lo, hi FROM bounds WHERE lo < hi
      UNION ALL
      SELECT minute + 60000, hi FROM minutes WHERE minute + 60000 < hi)`;

const dimParams = (n: number) => Array.from({ length: n }, (_, i) => `@d${i}`).join(', ');

function sqlFor(kind: 'count' | 'timeseries' | 'top', dims: number, perAdIndex: boolean): string {
  const inDims = `IN (${dimParams(dims)})`;
  if (kind === 'top') {
    // CROSS JOIN keeps the minutes outermost: one key seek per (minute, dim value)
    return `${MINUTES_CTE}
      SELECT c.ad_id AS adId, SUM(c.count) AS count
      FROM minutes m CROSS JOIN minute_counts c
      WHERE c.minute = m.minute AND c.dim ${inDims}
      GROUP BY c.ad_id ORDER BY count DESC, c.ad_id ASC LIMIT @n`;
  }
  const select =
    kind === 'count'
      ? 'SELECT COALESCE(SUM(c.count), 0) AS count'
      : 'SELECT c.minute AS minute, SUM(c.count) AS count';
  const tail = kind === 'count' ? '' : 'GROUP BY c.minute ORDER BY c.minute';
  if (perAdIndex) {
    return `${select} FROM minute_counts c INDEXED BY ${OPTIONAL_INDEXES.perAd.name}
      WHERE c.ad_id = @ad AND c.dim ${inDims} AND c.minute >= @from AND c.minute < @to ${tail}`;
  }
  return `${MINUTES_CTE}
    ${select} FROM minutes m CROSS JOIN minute_counts c
    WHERE c.minute = m.minute AND c.dim ${inDims} AND c.ad_id = @ad ${tail}`;
}

interface LateRow {
  partition_id: number;
  log_offset: number;
  ad_id: string;
  event_time: number;
  event_id: string;
  watermark: number | null;
  raw: string;
  arrived_at: number | null;
  folded_run: number | null;
  folded_at: number | null;
}

export function prepareQueries(db: Database.Database, perAdIndex: boolean): Queries {
  // one statement per (query, number of dimension values), prepared on first use
  const cache = new Map<string, Database.Statement>();
  const stmt = (kind: 'count' | 'timeseries' | 'top', dims: number): Database.Statement => {
    const key = `${kind}/${dims}`;
    let s = cache.get(key);
    if (s === undefined) {
      s = db.prepare(sqlFor(kind, dims, perAdIndex));
      cache.set(key, s);
    }
    return s;
  };
  // one minute of one dimension value is already one row per ad: rank it without grouping
  // (with the top-of-minute index, the planner reads just the first n index entries)
  const topOfMinute = db.prepare(`
    SELECT ad_id AS adId, count FROM minute_counts
    WHERE minute = @minute AND dim = @dim
    ORDER BY count DESC, ad_id ASC LIMIT @n`) as Database.Statement<
    [{ minute: number; dim: string; n: number }],
    RankedAd
  >;
  const rows = db.prepare(`${MINUTES_CTE}
    SELECT c.minute AS minute, c.ad_id AS adId, c.dim AS dim, c.count AS count
    FROM minutes m CROSS JOIN minute_counts c
    WHERE c.minute = m.minute AND c.dim = @dim
    ORDER BY c.minute, c.ad_id`) as Database.Statement<
    [{ from: number; to: number; dim: string }],
    MinuteRow
  >;
  const storedTop = db
    .prepare('SELECT ads FROM most_clicked_ads WHERE window_minutes = ? AND end_minute = ?')
    .pluck() as Database.Statement<[number, number], string>;
  const late = db.prepare(`
    SELECT l.partition_id, l.log_offset, l.ad_id, l.event_time, l.event_id, l.watermark, l.raw,
      l.arrived_at, f.run_id AS folded_run, r.finished_at AS folded_at
    FROM late_events l
    LEFT JOIN late_folded f USING (partition_id, log_offset)
    LEFT JOIN repair_runs r ON r.run_id = f.run_id
    WHERE (l.partition_id, l.log_offset) > (@p, @o)
    ORDER BY l.partition_id, l.log_offset LIMIT @limit`) as Database.Statement<
    [{ p: number; o: number; limit: number }],
    LateRow
  >;

  /** Named parameters for a range over the filter's distinct dimension values. */
  const params = (from: number, to: number, dims: readonly DimKey[]) => {
    // rows sit on minute starts, so `minute >= from` is `minute >= ceil(from)`: the enumeration
    // of minutes must start there
    const p: Record<string, string | number> = { from: ceilToMinute(from), to };
    dims.forEach((d, i) => (p[`d${i}`] = d));
    return p;
  };

  return {
    count(adId, from, to, filter) {
      const dims = dimsOf(filter);
      if (dims.length === 0 || !(from < to)) return 0;
      const row = stmt('count', dims.length).get({ ...params(from, to, dims), ad: adId }) as {
        count: number;
      };
      return row.count;
    },
    timeseries(adId, from, to, filter) {
      const dims = dimsOf(filter);
      if (dims.length === 0 || !(from < to)) return [];
      return stmt('timeseries', dims.length).all({ ...params(from, to, dims), ad: adId }) as Array<{
        minute: number;
        count: number;
      }>;
    },
    top(from, to, n, filter) {
      const dims = dimsOf(filter);
      const limit = Math.floor(n);
      // LIMIT -1 would mean "no limit" to SQLite
      if (dims.length === 0 || !(from < to) || !(limit > 0)) return [];
      const first = ceilToMinute(from);
      if (dims.length === 1 && first + MINUTE_MS >= to) {
        return first < to ? topOfMinute.all({ minute: first, dim: dims[0]!, n: limit }) : [];
      }
      return stmt('top', dims.length).all({ ...params(from, to, dims), n: limit }) as RankedAd[];
    },
    rows(from, to, dim) {
      if (!(from < to)) return [];
      return rows.all({ from: ceilToMinute(from), to, dim });
    },
    storedTop(windowMinutes, endMinute) {
      const ads = storedTop.get(windowMinutes, endMinute);
      return ads === undefined ? undefined : { windowMinutes, endMinute, ads: decodeRanked(ads) };
    },
    late(limit, after) {
      const n = Math.floor(limit);
      if (!(n > 0)) return [];
      return late.all({ p: after?.partition ?? -1, o: after?.offset ?? -1, limit: n }).map((r) => ({
        partition: r.partition_id,
        offset: r.log_offset,
        adId: r.ad_id,
        timestamp: r.event_time,
        eventId: r.event_id,
        watermark: decodeWatermark(r.watermark),
        raw: r.raw,
        ...(r.arrived_at === null ? {} : { arrivedAt: r.arrived_at }),
        ...(r.folded_run === null
          ? {}
          : { foldedBy: { runId: r.folded_run, at: r.folded_at ?? 0 } }),
      }));
    },
  };
}

/** Distinct values only: `country=US,US` must not count US twice. */
function dimsOf(filter: DimFilter | undefined): DimKey[] {
  return filter === undefined ? [ALL_DIMS] : [...new Set(filter.dims)];
}
