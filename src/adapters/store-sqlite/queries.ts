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
import { ceilToMinute, decodeLateRow, decodeRanked, type LateEventRow } from './codec.js';
import { OPTIONAL_INDEXES } from './schema.js';
import { DAY_MS, HOUR_MS, preparePosition } from './rollup.js';
import { TallyError } from '../../core/errors.js';
import type { RetentionPosition } from '../../ports/aggregate-retention.js';

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
  storedTop(windowMinutes: number, endMinute: number, dim?: DimKey): TopRow | undefined;
  late(limit: number, after?: { partition: number; offset: number }): LateRecord[];
}

/** A table of counts at one resolution: its key column and step. */
interface Resolution {
  table: 'minute_counts' | 'hour_counts' | 'day_counts';
  key: 'minute' | 'hour' | 'day';
  step: number;
}
const MINUTES: Resolution = { table: 'minute_counts', key: 'minute', step: MINUTE_MS };
const HOURS: Resolution = { table: 'hour_counts', key: 'hour', step: HOUR_MS };
const DAYS: Resolution = { table: 'day_counts', key: 'day', step: DAY_MS };

/** The keys of [@from, @to) that can hold rows of `r` (as the minutes CTE below). */
const keysCte = (r: Resolution) => `
  WITH RECURSIVE
    bounds(lo, hi) AS (
      SELECT max(@from, (SELECT min(${r.key}) FROM ${r.table})),
             min(@to, (SELECT max(${r.key}) FROM ${r.table}) + 1)),
    minutes(minute, hi) AS (
      SELECT lo, hi FROM bounds WHERE lo < hi
      UNION ALL
      SELECT minute + ${r.step}, hi FROM minutes WHERE minute + ${r.step} < hi)`;

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

type Kind = 'count' | 'timeseries' | 'top' | 'sums';

/** The same queries over the hourly or daily rollups: one key seek per hour (day). */
function rollupSqlFor(kind: Kind, dims: number, r: Resolution): string {
  const inDims = `IN (${dimParams(dims)})`;
  const from = `FROM minutes m CROSS JOIN ${r.table} c WHERE c.${r.key} = m.minute AND c.dim ${inDims}`;
  if (kind === 'top' || kind === 'sums')
    return `${keysCte(r)} SELECT c.ad_id AS adId, SUM(c.count) AS count ${from} GROUP BY c.ad_id`;
  if (kind === 'count')
    return `${keysCte(r)} SELECT COALESCE(SUM(c.count), 0) AS count ${from} AND c.ad_id = @ad`;
  return `${keysCte(r)} SELECT c.${r.key} AS minute, SUM(c.count) AS count ${from}
    AND c.ad_id = @ad GROUP BY c.${r.key} ORDER BY c.${r.key}`;
}

function sqlFor(kind: Kind, dims: number, perAdIndex: boolean): string {
  const inDims = `IN (${dimParams(dims)})`;
  if (kind === 'sums') {
    return `${MINUTES_CTE}
      SELECT c.ad_id AS adId, SUM(c.count) AS count
      FROM minutes m CROSS JOIN minute_counts c
      WHERE c.minute = m.minute AND c.dim ${inDims}
      GROUP BY c.ad_id`;
  }
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

interface LateRow extends LateEventRow {
  folded_run: number | null;
  folded_at: number | null;
}

export function prepareQueries(db: Database.Database, perAdIndex: boolean): Queries {
  // one statement per (query, number of dimension values, table), prepared on first use
  const cache = new Map<string, Database.Statement>();
  const stmt = (kind: Kind, dims: number, r: Resolution = MINUTES): Database.Statement => {
    const key = `${kind}/${dims}/${r.key}`;
    let s = cache.get(key);
    if (s === undefined) {
      s = db.prepare(r === MINUTES ? sqlFor(kind, dims, perAdIndex) : rollupSqlFor(kind, dims, r));
      cache.set(key, s);
    }
    return s;
  };
  const position = preparePosition(db);
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
    .prepare(
      'SELECT ads FROM most_clicked_ads WHERE window_minutes = ? AND end_minute = ? AND dim = ?',
    )
    .pluck() as Database.Statement<[number, number, string], string>;
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

  /** The parts of a range by the table that holds them (see split). */
  const partsOf = (from: number, to: number) => split(ceilToMinute(from), to, position());

  const count = (adId: string, from: number, to: number, filter?: DimFilter): number => {
    const dims = dimsOf(filter);
    if (dims.length === 0 || !(from < to)) return 0;
    let total = 0;
    for (const part of partsOf(from, to)) {
      const row = stmt('count', dims.length, part.r).get({
        ...params(part.lo, part.hi, dims),
        ad: adId,
      }) as { count: number };
      total += row.count;
    }
    return total;
  };
  const timeseries = (adId: string, from: number, to: number, filter?: DimFilter) => {
    const dims = dimsOf(filter);
    if (dims.length === 0 || !(from < to)) return [];
    const out: Array<{ minute: number; count: number }> = [];
    for (const part of partsOf(from, to)) {
      const points = stmt('timeseries', dims.length, part.r).all({
        ...params(part.lo, part.hi, dims),
        ad: adId,
      }) as Array<{ minute: number; count: number }>;
      for (const p of points) out.push(p);
    }
    return out;
  };
  const top = (from: number, to: number, n: number, filter?: DimFilter): RankedAd[] => {
    const dims = dimsOf(filter);
    const limit = Math.floor(n);
    // LIMIT -1 would mean "no limit" to SQLite
    if (dims.length === 0 || !(from < to) || !(limit > 0)) return [];
    const parts = partsOf(from, to);
    if (parts.length === 1 && parts[0]!.r === MINUTES) {
      const { lo, hi } = parts[0]!;
      if (dims.length === 1 && lo + MINUTE_MS >= hi) {
        return lo < hi ? topOfMinute.all({ minute: lo, dim: dims[0]!, n: limit }) : [];
      }
      return stmt('top', dims.length).all({ ...params(lo, hi, dims), n: limit }) as RankedAd[];
    }
    // across resolutions: each table's sums per ad, merged, then ranked like the SQL ranks
    const sums = new Map<string, number>();
    for (const part of parts) {
      const rows = stmt('sums', dims.length, part.r).all(
        params(part.lo, part.hi, dims),
      ) as RankedAd[];
      for (const r of rows) sums.set(r.adId, (sums.get(r.adId) ?? 0) + r.count);
    }
    return [...sums]
      .map(([adId, c]) => ({ adId, count: c }))
      .sort((a, b) => b.count - a.count || (a.adId < b.adId ? -1 : a.adId > b.adId ? 1 : 0))
      .slice(0, limit);
  };
  // one read transaction each: the position and the rows it points at are from one commit
  const countTx = db.transaction(count);
  const timeseriesTx = db.transaction(timeseries);
  const topTx = db.transaction(top);

  return {
    count: (adId, from, to, filter) => countTx.deferred(adId, from, to, filter),
    timeseries: (adId, from, to, filter) => timeseriesTx.deferred(adId, from, to, filter),
    top: (from, to, n, filter) => topTx.deferred(from, to, n, filter),
    rows(from, to, dim) {
      if (!(from < to)) return [];
      return rows.all({ from: ceilToMinute(from), to, dim });
    },
    storedTop(windowMinutes, endMinute, dim = ALL_DIMS) {
      const ads = storedTop.get(windowMinutes, endMinute, dim);
      if (ads === undefined) return undefined;
      const t: TopRow = { windowMinutes, endMinute, ads: decodeRanked(ads) };
      if (dim !== ALL_DIMS) t.dim = dim;
      return t;
    },
    late(limit, after) {
      const n = Math.floor(limit);
      if (!(n > 0)) return [];
      return late.all({ p: after?.partition ?? -1, o: after?.offset ?? -1, limit: n }).map((r) => ({
        ...decodeLateRow(r),
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

const aligned = (t: number, step: number) => !Number.isFinite(t) || t % step === 0;

/**
 * [from, to) by the table that holds each part: days before hoursFrom, hours before
 * minutesFrom, minutes after. A part in a rollup must start and end on its table's steps
 * (or on the position), since a coarser row cannot be split: anything else is refused.
 */
export function split(
  from: number,
  to: number,
  pos: RetentionPosition,
): { r: Resolution; lo: number; hi: number }[] {
  const parts: { r: Resolution; lo: number; hi: number }[] = [];
  const refuse = (field: 'from' | 'to', step: 'hours' | 'days', edge: number) => {
    throw new TallyError(
      'TALLY_BAD_PARAMETER',
      `${field}: counts before ${new Date(edge).toISOString()} are kept as ${step === 'hours' ? 'hourly' : 'daily'} ` +
        `totals (retention): a range there must start and end on whole ${step} (UTC)`,
      { field, details: { retention: { minutesFrom: pos.minutesFrom, hoursFrom: pos.hoursFrom } } },
    );
  };
  const H = pos.hoursFrom;
  const M = Math.max(pos.minutesFrom, H);
  if (from < H) {
    const hi = Math.min(to, H);
    if (!aligned(from, DAY_MS)) refuse('from', 'days', H);
    if (hi < H && !aligned(hi, DAY_MS)) refuse('to', 'days', H);
    if (from < hi) parts.push({ r: DAYS, lo: from, hi });
  }
  if (from < M && to > H) {
    const lo = Math.max(from, H);
    const hi = Math.min(to, M);
    if (lo > H && !aligned(lo, HOUR_MS)) refuse('from', 'hours', M);
    if (hi < M && !aligned(hi, HOUR_MS)) refuse('to', 'hours', M);
    if (lo < hi) parts.push({ r: HOURS, lo, hi });
  }
  const lo = Math.max(from, M);
  if (lo < to) parts.push({ r: MINUTES, lo, hi: to });
  return parts;
}
