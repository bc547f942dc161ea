/**
 * The archive's SQL (DuckDB): the Parquet schema, the staging table, and the reconciled
 * counting rule. Numbers are validated integers and are written into the text; strings are
 * always bound as parameters.
 */
import { CSV_COLUMNS, CSV_OPTIONS } from './csv-stage.js';

/**
 * The columns of every archive file, in order (docs/architecture.md, "The archive"):
 * log_partition INTEGER, log_offset BIGINT, ad_id VARCHAR, event_time TIMESTAMPTZ (UTC
 * instant; Parquet INT64 TIMESTAMP(MICROS, isAdjustedToUTC)), event_id VARCHAR (only when it
 * came with the event: the canonical id of the others is derivable, SPEC §1), user_id, ip,
 * country VARCHAR, extra VARCHAR (unknown fields, JSON object text), dedup_key BLOB (the 16
 * bytes of the aggregator's dedup key).
 */
export const ARCHIVE_COLUMNS =
  'log_partition, log_offset, ad_id, event_time, event_id, user_id, ip, country, extra, dedup_key';

export const TABLE_DDL = `(log_partition INTEGER, log_offset BIGINT, ad_id VARCHAR,
  event_time TIMESTAMPTZ, event_id VARCHAR, user_id VARCHAR, ip VARCHAR, country VARCHAR,
  extra VARCHAR, dedup_key BLOB)`;

export const sqlString = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** The archive's columns, read from a staging CSV (csv-stage.ts). */
export function selectFromCsv(csvPath: string): string {
  return `SELECT log_partition, log_offset, ad_id, make_timestamptz(t * 1000) AS event_time,
      event_id, user_id, ip, country, extra, unhex(k) AS dedup_key
    FROM read_csv(${sqlString(csvPath)}, ${CSV_OPTIONS}, columns = ${CSV_COLUMNS})`;
}

/** Events of the archive files and a staged tail table, as one relation. */
export function eventsSource(files: readonly string[], tailTable: string): string {
  const tail = `SELECT ${ARCHIVE_COLUMNS} FROM ${tailTable}`;
  if (files.length === 0) return `(${tail})`;
  const list = files.map(sqlString).join(', ');
  return `(SELECT ${ARCHIVE_COLUMNS} FROM read_parquet([${list}]) UNION ALL ${tail})`;
}

const ms = (n: number): string => {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer ms: ${n}`);
  return String(n);
};

export const timeBetween = (fromTime: number, toTime: number): string =>
  `event_time >= make_timestamptz(${ms(fromTime)} * 1000) AND event_time < make_timestamptz(${ms(toTime)} * 1000)`;

/**
 * The reconciled counting rule, as a relation `counted(k, ad_id, t)` of the events that count:
 * per dedup key, in (event time, partition, offset) order, the first event counts; a later one
 * counts again only once its minute starts at or after the last counted one's time + horizon
 * (what ClickAggregator does when each minute is fed with the watermark at its start, as the
 * reconciliation feeds it). Keys whose events all lie within one horizon of the first (nearly
 * all) take one GROUP BY; the rest walk their chain in a recursive CTE.
 *
 * `where` selects the events considered (time range with its history, ad, filter).
 */
export function countedSql(source: string, where: string, horizonMs: number): string {
  const H = ms(horizonMs);
  return `WITH RECURSIVE
    ev AS (
      SELECT dedup_key AS k, ad_id, epoch_ms(event_time) AS t, log_partition AS p, log_offset AS o
      FROM ${source} WHERE ${where}),
    keys AS (
      SELECT k, any_value(ad_id) AS ad_id, min(t) AS t0,
        (max(t) // 60000) * 60000 >= min(t) + ${H} AS chained
      FROM ev GROUP BY k),
    occ AS (
      SELECT ev.k, ev.ad_id, ev.t,
        row_number() OVER (PARTITION BY ev.k ORDER BY ev.t, ev.p, ev.o) AS rn
      FROM ev JOIN keys USING (k) WHERE keys.chained),
    chain(k, ad_id, rn, t, anchor, counts) AS (
      SELECT k, ad_id, rn, t, t, true FROM occ WHERE rn = 1
      UNION ALL
      SELECT o.k, o.ad_id, o.rn, o.t,
        CASE WHEN c.anchor + ${H} <= (o.t // 60000) * 60000 THEN o.t ELSE c.anchor END,
        c.anchor + ${H} <= (o.t // 60000) * 60000
      FROM chain c JOIN occ o ON o.k = c.k AND o.rn = c.rn + 1),
    counted AS (
      SELECT k, ad_id, t0 AS t FROM keys WHERE NOT chained
      UNION ALL
      SELECT k, ad_id, t FROM chain WHERE counts)`;
}
