/**
 * The schema, as numbered migrations applied in order, each in one transaction under an
 * advisory lock (several processes of one deployment may open the store at once). Everything
 * lives in one PostgreSQL schema named after the namespace, so deployments and test runs that
 * share a database never see each other's tables.
 *
 * Text keys are `COLLATE "C"`: byte order, which is the order the port promises for ties.
 */
import type pg from 'pg';
import { TallyError } from '../../core/errors.js';
import type { StoreLogger } from '../store-sqlite/logger.js';

interface Migration {
  version: number;
  description: string;
  sql: (s: string) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'minute aggregates, most-clicked lists, offsets, snapshots, cycles, late records',
    sql: (s) => `
      -- minute-leading key: a commit writes a few recent minutes, so inserts stay local
      CREATE TABLE ${s}.minute_counts (
        minute bigint NOT NULL CHECK (minute % 60000 = 0),
        dim text COLLATE "C" NOT NULL,
        ad_id text COLLATE "C" NOT NULL,
        count bigint NOT NULL CHECK (count >= 0),
        PRIMARY KEY (minute, dim, ad_id)
      );
      -- count and timeseries of one ad read one range of this index, whatever the range length
      CREATE INDEX minute_counts_by_ad ON ${s}.minute_counts (ad_id, dim, minute);

      CREATE TABLE ${s}.most_clicked_ads (
        window_minutes integer NOT NULL CHECK (window_minutes > 0),
        end_minute bigint NOT NULL CHECK (end_minute % 60000 = 0),
        ads text NOT NULL,
        PRIMARY KEY (window_minutes, end_minute)
      );

      -- seq numbers the consumer's commits; watermark NULL = -Infinity
      CREATE TABLE ${s}.consumer_state (
        consumer text COLLATE "C" NOT NULL PRIMARY KEY,
        seq bigint NOT NULL CHECK (seq > 0),
        watermark double precision,
        events bigint NOT NULL CHECK (events >= 0),
        duplicates bigint NOT NULL CHECK (duplicates >= 0),
        late bigint NOT NULL CHECK (late >= 0)
      );

      CREATE TABLE ${s}.consumer_offsets (
        consumer text COLLATE "C" NOT NULL,
        partition_id integer NOT NULL CHECK (partition_id >= 0),
        next_offset bigint NOT NULL CHECK (next_offset >= 0),
        PRIMARY KEY (consumer, partition_id)
      );

      CREATE TABLE ${s}.snapshots (
        consumer text COLLATE "C" NOT NULL PRIMARY KEY,
        seq bigint NOT NULL,
        offsets text NOT NULL,
        watermark double precision,
        state bytea NOT NULL
      );

      -- cycles committed after the latest snapshot; a snapshot commit deletes those it reflects
      CREATE TABLE ${s}.cycles (
        consumer text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        offsets text NOT NULL,
        watermark double precision,
        PRIMARY KEY (consumer, seq)
      );

      CREATE TABLE ${s}.late_events (
        partition_id integer NOT NULL,
        log_offset bigint NOT NULL,
        ad_id text NOT NULL,
        event_time bigint NOT NULL,
        event_id text NOT NULL,
        watermark double precision,
        raw text NOT NULL,
        arrived_at bigint,
        PRIMARY KEY (partition_id, log_offset)
      );
    `,
  },
  {
    version: 2,
    description: 'incremental operator snapshots (a base and its deltas, in chunks)',
    sql: (s) => `
      -- 1: the snapshot is the state blob; 2: it is the chain in snapshot_chunks (state empty)
      ALTER TABLE ${s}.snapshots ADD COLUMN format smallint NOT NULL DEFAULT 1
        CHECK (format IN (1, 2));

      -- piece 0 is the base, 1… the deltas after it; each piece in chunks (bytea holds 1 GB)
      CREATE TABLE ${s}.snapshot_chunks (
        consumer text COLLATE "C" NOT NULL,
        piece integer NOT NULL CHECK (piece >= 0),
        chunk integer NOT NULL CHECK (chunk >= 0),
        data bytea NOT NULL,
        PRIMARY KEY (consumer, piece, chunk)
      );
    `,
  },
  {
    version: 3,
    description:
      'the aggregator group and the writer: per-partition snapshots, watermarks, top-N candidates',
    sql: (s) => `
      -- one operator snapshot per clicks partition, written after the Kafka transaction of its
      -- cycle committed; a restore replays the cycles after "cycle" from the aggregates queue
      CREATE TABLE ${s}.partition_snapshots (
        partition_id integer NOT NULL PRIMARY KEY CHECK (partition_id >= 0),
        clicks_offset bigint NOT NULL,
        cycle bigint NOT NULL,
        aggregates_offset bigint NOT NULL,
        watermark double precision,
        bytes bigint NOT NULL,
        saved_at bigint NOT NULL
      );
      CREATE TABLE ${s}.partition_snapshot_chunks (
        partition_id integer NOT NULL,
        chunk integer NOT NULL CHECK (chunk >= 0),
        data bytea NOT NULL,
        PRIMARY KEY (partition_id, chunk)
      );
      -- the writer's view of each partition: its last applied cycle (watermark NULL = -Infinity)
      CREATE TABLE ${s}.partition_progress (
        partition_id integer NOT NULL PRIMARY KEY CHECK (partition_id >= 0),
        cycle bigint NOT NULL,
        clicks_offset bigint NOT NULL,
        watermark double precision
      );
      -- each partition's exact top N of a window: the global top N is their merge
      CREATE TABLE ${s}.top_candidates (
        window_minutes integer NOT NULL,
        end_minute bigint NOT NULL,
        partition_id integer NOT NULL,
        ads text NOT NULL,
        PRIMARY KEY (window_minutes, end_minute, partition_id)
      );
    `,
  },
  {
    version: 4,
    description: 'most-clicked lists and top-N candidates per dimension value',
    sql: (s) => `
      -- dim '*': every event (the lists before v4); 'country=US': the events with that value
      ALTER TABLE ${s}.most_clicked_ads ADD COLUMN dim text COLLATE "C" NOT NULL DEFAULT '*';
      ALTER TABLE ${s}.most_clicked_ads DROP CONSTRAINT most_clicked_ads_pkey;
      ALTER TABLE ${s}.most_clicked_ads ADD PRIMARY KEY (window_minutes, end_minute, dim);
      ALTER TABLE ${s}.top_candidates ADD COLUMN dim text COLLATE "C" NOT NULL DEFAULT '*';
      ALTER TABLE ${s}.top_candidates DROP CONSTRAINT top_candidates_pkey;
      ALTER TABLE ${s}.top_candidates
        ADD PRIMARY KEY (window_minutes, end_minute, dim, partition_id);
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** A namespace as a schema name: lower-case letters, digits and _, quoted anyway. */
export function schemaIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) {
    throw new TallyError(
      'TALLY_CONFIG_INVALID',
      `postgres store: schema name ${JSON.stringify(name)} must be 1–63 of [a-z0-9_], not starting with a digit`,
      { field: 'namespace' },
    );
  }
  return `"${name}"`;
}

/** Brings the schema to SCHEMA_VERSION; refuses one written by a newer build. */
export async function migrate(
  client: pg.PoolClient,
  schema: string,
  logger: StoreLogger | undefined,
): Promise<number> {
  const s = schemaIdent(schema);
  await client.query('BEGIN');
  try {
    // one migrating process at a time per schema; the lock ends with the transaction
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7243))', [schema]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.schema_version (
      version integer NOT NULL PRIMARY KEY,
      description text NOT NULL,
      applied_at bigint NOT NULL)`);
    const r = await client.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${s}.schema_version`,
    );
    const found = r.rows[0]?.v ?? 0;
    if (found > SCHEMA_VERSION) {
      throw new TallyError(
        'TALLY_DATA_DIR_MISMATCH',
        `the aggregate store (schema ${schema}) has version ${found}; this build knows up to ${SCHEMA_VERSION}: upgrade Tally`,
        { field: 'namespace', details: { found, supported: SCHEMA_VERSION } },
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= found) continue;
      await client.query(m.sql(s));
      await client.query(
        `INSERT INTO ${s}.schema_version (version, description, applied_at) VALUES ($1, $2, $3)`,
        [m.version, m.description, Date.now()],
      );
      logger?.info({ schema, version: m.version }, `aggregate store: applied ${m.description}`);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }
  return SCHEMA_VERSION;
}
