/**
 * Baseline: DuckDB over the same NDJSON file, `read_json(…, ignore_errors=true)` and
 * `GROUP BY ad_id, minute`. A batch query, on every core DuckDB finds, with none of Tally's
 * guarantees: nothing is durable, duplicates are counted again, invalid lines that parse
 * (a bad country, a bad ip, an ad_id out of the alphabet) are counted, and there is no
 * watermark, lateness or incremental update. It is the speed of "just count the file".
 */
import { DuckDBInstance } from '@duckdb/node-api';

export interface BaselineRun {
  ms: number;
  /** (ad, minute) groups */
  groups: number;
  /** lines counted into some group */
  counted: number;
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** The query, timed from the first byte read to the last group materialised. */
export async function duckdbCount(file: string): Promise<BaselineRun> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    // the time field is an epoch-ms number or ISO-8601 text, under either of its two names;
    // the counts land in a table, so they are queryable afterwards as Tally's are
    const build = `
      CREATE TEMP TABLE minute_counts AS
      WITH clicks AS (
        SELECT ad_id, coalesce("timestamp", click_timestamp) AS t
        FROM read_json(${sqlString(file)}, format = 'newline_delimited', ignore_errors = true,
          columns = {ad_id: 'VARCHAR', "timestamp": 'JSON', click_timestamp: 'JSON'})
      ), timed AS (
        SELECT ad_id,
          CASE WHEN json_type(t) IN ('UBIGINT', 'BIGINT')
            THEN epoch_ms(CAST(t AS BIGINT))
            ELSE TRY_CAST(json_extract_string(t, '$') AS TIMESTAMPTZ)
          END AS ts
        FROM clicks
      )
      SELECT ad_id, time_bucket(INTERVAL 1 minute, ts) AS minute, count(*) AS n
      FROM timed WHERE ad_id IS NOT NULL AND ts IS NOT NULL
      GROUP BY ad_id, minute`;
    const t0 = performance.now();
    await conn.run(build);
    const ms = performance.now() - t0;
    const reader = await conn.runAndReadAll(
      'SELECT count(*)::BIGINT AS groups, coalesce(sum(n), 0)::BIGINT AS counted FROM minute_counts',
    );
    const [first] = reader.getRowObjectsJS();
    return { ms, groups: Number(first?.groups ?? NaN), counted: Number(first?.counted ?? NaN) };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
