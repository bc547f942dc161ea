/**
 * The schema, as numbered migrations applied in order inside one transaction each. Tables are
 * STRICT (a float or text count is an error, not silently stored) and WITHOUT ROWID where the
 * primary key is the access path, so rows live in key order with no second b-tree.
 */
import type Database from 'better-sqlite3';
import { TallyError } from '../../core/errors.js';
import type { StoreLogger } from './logger.js';

interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'minute aggregates, most-clicked lists, offsets, snapshots, cycles, late records',
    sql: `
      -- minute-leading key: a commit writes a few consecutive recent minutes, so inserts stay
      -- local; dim before ad_id: a filtered top-N reads only the rows of that dimension value
      CREATE TABLE minute_counts (
        minute INTEGER NOT NULL CHECK (minute % 60000 = 0),
        dim TEXT NOT NULL,
        ad_id TEXT NOT NULL,
        count INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (minute, dim, ad_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE most_clicked_ads (
        window_minutes INTEGER NOT NULL CHECK (window_minutes > 0),
        end_minute INTEGER NOT NULL CHECK (end_minute % 60000 = 0),
        ads TEXT NOT NULL,
        PRIMARY KEY (window_minutes, end_minute)
      ) STRICT, WITHOUT ROWID;

      -- seq numbers the consumer's commits; watermark NULL = -Infinity
      CREATE TABLE consumer_state (
        consumer TEXT NOT NULL PRIMARY KEY,
        seq INTEGER NOT NULL CHECK (seq > 0),
        watermark REAL,
        events INTEGER NOT NULL CHECK (events >= 0),
        duplicates INTEGER NOT NULL CHECK (duplicates >= 0),
        late INTEGER NOT NULL CHECK (late >= 0)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE consumer_offsets (
        consumer TEXT NOT NULL,
        partition_id INTEGER NOT NULL CHECK (partition_id >= 0),
        next_offset INTEGER NOT NULL CHECK (next_offset >= 0),
        PRIMARY KEY (consumer, partition_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE snapshots (
        consumer TEXT NOT NULL PRIMARY KEY,
        seq INTEGER NOT NULL,
        offsets TEXT NOT NULL,
        watermark REAL,
        state BLOB NOT NULL
      ) STRICT;

      -- cycles committed after the latest snapshot; a snapshot commit deletes those it reflects
      CREATE TABLE cycles (
        consumer TEXT NOT NULL,
        seq INTEGER NOT NULL,
        offsets TEXT NOT NULL,
        watermark REAL,
        PRIMARY KEY (consumer, seq)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE late_events (
        partition_id INTEGER NOT NULL,
        log_offset INTEGER NOT NULL,
        ad_id TEXT NOT NULL,
        event_time INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        watermark REAL,
        raw TEXT NOT NULL,
        PRIMARY KEY (partition_id, log_offset)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    description: 'arrival time of late records; the reconciliation audit trail',
    sql: `
      -- wall-clock ms at which the aggregator read the late event (NULL: recorded before v2)
      ALTER TABLE late_events ADD COLUMN arrived_at INTEGER;

      -- one row per tally reconcile --repair; 'running' left behind by a crash becomes
      -- 'interrupted' when the next repair starts (its committed chunks stay, audited)
      CREATE TABLE repair_runs (
        run_id INTEGER PRIMARY KEY,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'interrupted')),
        from_minute INTEGER NOT NULL CHECK (from_minute % 60000 = 0),
        to_minute INTEGER NOT NULL CHECK (to_minute % 60000 = 0),
        rows_changed INTEGER NOT NULL DEFAULT 0,
        tops_changed INTEGER NOT NULL DEFAULT 0,
        late_folded INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL
      ) STRICT;

      -- every minute row a repair changed: the billing-dispute trail (old and new value, why)
      CREATE TABLE repair_changes (
        run_id INTEGER NOT NULL REFERENCES repair_runs (run_id),
        minute INTEGER NOT NULL,
        dim TEXT NOT NULL,
        ad_id TEXT NOT NULL,
        old_count INTEGER NOT NULL CHECK (old_count >= 0),
        new_count INTEGER NOT NULL CHECK (new_count >= 0),
        reason TEXT NOT NULL,
        changed_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, minute, dim, ad_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE repair_top_changes (
        run_id INTEGER NOT NULL REFERENCES repair_runs (run_id),
        window_minutes INTEGER NOT NULL,
        end_minute INTEGER NOT NULL,
        old_ads TEXT,
        new_ads TEXT,
        changed_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, window_minutes, end_minute)
      ) STRICT, WITHOUT ROWID;

      -- late records a finished repair recounted: their effect is in the repaired rows
      CREATE TABLE late_folded (
        partition_id INTEGER NOT NULL,
        log_offset INTEGER NOT NULL,
        run_id INTEGER NOT NULL REFERENCES repair_runs (run_id),
        PRIMARY KEY (partition_id, log_offset)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    description: 'incremental operator snapshots (a base and its deltas, in chunks)',
    sql: `
      -- 1: the snapshot is the state blob; 2: it is the chain in snapshot_chunks (state empty)
      ALTER TABLE snapshots ADD COLUMN format INTEGER NOT NULL DEFAULT 1 CHECK (format IN (1, 2));

      -- piece 0 is the base, 1… the deltas after it; each piece in chunks (a blob is at most
      -- 1 GB) with their CRC-32, checked on load
      CREATE TABLE snapshot_chunks (
        consumer TEXT NOT NULL,
        piece INTEGER NOT NULL CHECK (piece >= 0),
        chunk INTEGER NOT NULL CHECK (chunk >= 0),
        crc INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (consumer, piece, chunk)
      ) STRICT;
    `,
  },
  {
    version: 4,
    description: 'retention: hourly and daily rollups of the minute rows',
    sql: `
      -- sums of the minute rows of one hour (day), written when that hour (day) is rolled up;
      -- the rows it replaces are deleted in the same transaction
      CREATE TABLE hour_counts (
        hour INTEGER NOT NULL CHECK (hour % 3600000 = 0),
        dim TEXT NOT NULL,
        ad_id TEXT NOT NULL,
        count INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (hour, dim, ad_id)
      ) STRICT, WITHOUT ROWID;

      CREATE TABLE day_counts (
        day INTEGER NOT NULL CHECK (day % 86400000 = 0),
        dim TEXT NOT NULL,
        ad_id TEXT NOT NULL,
        count INTEGER NOT NULL CHECK (count >= 0),
        PRIMARY KEY (day, dim, ad_id)
      ) STRICT, WITHOUT ROWID;

      -- minute rows exist from minutes_from on, hourly rows from hours_from (NULL: not yet)
      CREATE TABLE retention_state (
        only INTEGER PRIMARY KEY CHECK (only = 1),
        minutes_from INTEGER CHECK (minutes_from % 3600000 = 0),
        hours_from INTEGER CHECK (hours_from % 86400000 = 0)
      ) STRICT;
      INSERT INTO retention_state (only, minutes_from, hours_from) VALUES (1, NULL, NULL);
    `,
  },
  {
    version: 5,
    description: 'snapshot pieces in files beside the store',
    sql: `
      -- a piece whose bytes are in a file of its own (piece-files.ts) instead of
      -- snapshot_chunks; a chain may mix both (pieces number across the two tables). The
      -- file is written and fsynced before the row: a file no row names is ignored
      CREATE TABLE snapshot_files (
        consumer TEXT NOT NULL,
        piece INTEGER NOT NULL CHECK (piece >= 0),
        name TEXT NOT NULL,
        bytes INTEGER NOT NULL CHECK (bytes >= 0),
        -- per chunk, little-endian: u32 length, u32 CRC-32
        chunks BLOB NOT NULL,
        PRIMARY KEY (consumer, piece)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    description: 'most-clicked lists per dimension value',
    sql: `
      -- dim '*': every event (the lists before v6); 'country=US': the events with that value.
      -- SQLite cannot change a primary key in place: the tables are copied
      CREATE TABLE most_clicked_ads_v6 (
        window_minutes INTEGER NOT NULL CHECK (window_minutes > 0),
        end_minute INTEGER NOT NULL CHECK (end_minute % 60000 = 0),
        dim TEXT NOT NULL,
        ads TEXT NOT NULL,
        PRIMARY KEY (window_minutes, end_minute, dim)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO most_clicked_ads_v6 (window_minutes, end_minute, dim, ads)
        SELECT window_minutes, end_minute, '*', ads FROM most_clicked_ads;
      DROP TABLE most_clicked_ads;
      ALTER TABLE most_clicked_ads_v6 RENAME TO most_clicked_ads;

      CREATE TABLE repair_top_changes_v6 (
        run_id INTEGER NOT NULL REFERENCES repair_runs (run_id),
        window_minutes INTEGER NOT NULL,
        end_minute INTEGER NOT NULL,
        dim TEXT NOT NULL,
        old_ads TEXT,
        new_ads TEXT,
        changed_at INTEGER NOT NULL,
        PRIMARY KEY (run_id, window_minutes, end_minute, dim)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO repair_top_changes_v6
          (run_id, window_minutes, end_minute, dim, old_ads, new_ads, changed_at)
        SELECT run_id, window_minutes, end_minute, '*', old_ads, new_ads, changed_at
        FROM repair_top_changes;
      DROP TABLE repair_top_changes;
      ALTER TABLE repair_top_changes_v6 RENAME TO repair_top_changes;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * Optional indexes, created on request and never dropped by an open (another process may rely
 * on them). Their cost and gain, measured, are in this adapter's README.
 */
export const OPTIONAL_INDEXES = {
  /** (ad_id, dim, minute): long-range count/timeseries read one range; inserts scatter over ads */
  perAd: {
    name: 'minute_counts_by_ad',
    sql: 'CREATE INDEX IF NOT EXISTS minute_counts_by_ad ON minute_counts (ad_id, dim, minute)',
  },
  /** (minute, dim, count DESC, ad_id): the top N of one minute is its first N entries */
  topOfMinute: {
    name: 'minute_counts_top',
    sql: 'CREATE INDEX IF NOT EXISTS minute_counts_top ON minute_counts (minute, dim, count DESC, ad_id)',
  },
} as const;

export type OptionalIndex = keyof typeof OPTIONAL_INDEXES;

const currentVersion = (db: Database.Database): number =>
  (db.prepare('SELECT max(version) FROM schema_version').pluck().get() as number | null) ?? 0;

function refuseNewer(found: number): void {
  if (found > SCHEMA_VERSION) {
    throw new TallyError(
      'TALLY_DATA_DIR_MISMATCH',
      `the aggregate store has schema version ${found}; this build knows up to ${SCHEMA_VERSION}: upgrade Tally`,
      { field: 'dataDir', details: { found, supported: SCHEMA_VERSION } },
    );
  }
}

/** Brings the file to SCHEMA_VERSION; refuses a file written by a newer schema. */
export function migrate(db: Database.Database, logger: StoreLogger | undefined): number {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  ) STRICT`);
  const current = () => currentVersion(db);
  refuseNewer(current());
  for (const m of MIGRATIONS) {
    // re-checked inside the write lock: another process may have migrated meanwhile
    db.transaction(() => {
      if (current() >= m.version) return;
      db.exec(m.sql);
      db.prepare(
        'INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)',
      ).run(m.version, m.description, Date.now());
      logger?.info({ version: m.version }, `aggregate store: applied migration ${m.description}`);
    }).immediate();
  }
  return current();
}

/** For a read-only open: the file must already be at exactly this build's version. */
export function checkVersion(db: Database.Database): number {
  const found = currentVersion(db);
  refuseNewer(found);
  if (found < SCHEMA_VERSION) {
    throw new TallyError(
      'TALLY_DATA_DIR_MISMATCH',
      `the aggregate store has schema version ${found}; open it once read-write to migrate it to ${SCHEMA_VERSION}`,
      { field: 'dataDir', details: { found, supported: SCHEMA_VERSION } },
    );
  }
  return found;
}

export function ensureIndex(db: Database.Database, index: OptionalIndex): void {
  db.exec(OPTIONAL_INDEXES[index].sql);
}

export function hasIndex(db: Database.Database, index: OptionalIndex): boolean {
  return (
    db
      .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'index' AND name = ?")
      .get(OPTIONAL_INDEXES[index].name) !== undefined
  );
}
