/**
 * The distributed aggregate store: both ports (AggregateSink + AggregateReader) over one
 * PostgreSQL schema, through a connection pool. A commit takes one pooled connection for its
 * transaction; reads take any. Whoever opens the store closes it.
 */
import pg from 'pg';
import { TallyError } from '../../core/errors.js';
import type { AggregateReader } from '../../ports/aggregate-reader.js';
import type { AggregateSink } from '../../ports/aggregate-sink.js';
import type { PartitionSnapshotStore, WriterSink } from '../../ports/partitioned-aggregates.js';
import type { DimKey, MinuteRow } from '../../ports/aggregates.js';
import type { StoreLogger } from '../store-sqlite/logger.js';
import { commitBatch } from './commit.js';
import { storeFailure } from './errors.js';
import { commitWriter, loadSnapshot, saveSnapshot, writerState } from './partitioned.js';
import { loadCheckpoint, queries, status } from './reads.js';
import { migrate, schemaIdent } from './schema.js';

export interface PgStoreOptions {
  /** postgres://user@host:port/db */
  url: string;
  /** the PostgreSQL schema all tables live in: the deployment's namespace */
  schema: string;
  /** create or migrate the schema (default true); a query-only process may skip it */
  migrate?: boolean;
  /** pooled connections (default 4) */
  poolSize?: number;
  /** how long a connection attempt may take, ms (default 5000) */
  connectTimeoutMs?: number;
  logger?: StoreLogger;
}

export interface PgAggregateStore
  extends AggregateSink, AggregateReader, PartitionSnapshotStore, WriterSink {
  /** every row of one dimension key over fromMinute ≤ m < toMinute, by minute then ad_id */
  rows(fromMinute: number, toMinute: number, dim: DimKey): Promise<MinuteRow[]>;
  /** whether the database answers (a trivial query); rejects with TALLY_STORE_FAILURE if not */
  ping(): Promise<void>;
  /** idempotent; every later call fails with TALLY_STORE_FAILURE */
  close(): Promise<void>;
  readonly schema: string;
}

/** bigint and numeric come back as numbers: counts and offsets stay far below 2^53. */
const INT8 = 20;
const NUMERIC = 1700;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return format === 'binary'
      ? pg.types.getTypeParser(oid, 'binary')
      : pg.types.getTypeParser(oid, 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** Opens the pool, checks the database answers and brings the schema to this build's version. */
export async function openPgStore(opts: PgStoreOptions): Promise<PgAggregateStore> {
  const s = schemaIdent(opts.schema);
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize ?? 4,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    types,
  });
  // an idle connection the server drops must not crash the process: the next query reconnects
  pool.on('error', (e) => opts.logger?.warn({ err: e }, 'postgres store: idle connection lost'));
  try {
    const client = await pool.connect();
    try {
      if (opts.migrate !== false) await migrate(client, opts.schema, opts.logger);
    } finally {
      client.release();
    }
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw storeFailure(`open (schema ${opts.schema})`, e);
  }
  opts.logger?.info({ schema: opts.schema }, 'aggregate store open (postgres)');

  let closed = false;
  const use = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (closed) throw new TallyError('TALLY_STORE_FAILURE', `postgres store: ${what} after close`);
    try {
      return await fn();
    } catch (e) {
      throw storeFailure(what, e);
    }
  };
  /** one transaction on one pooled connection; rolled back on any failure */
  const inTransaction = async <T>(
    isolation: 'READ COMMITTED' | 'REPEATABLE READ',
    readOnly: boolean,
    fn: (c: pg.PoolClient) => Promise<T>,
  ): Promise<T> => {
    const client = await pool.connect();
    // a connection lost while checked out is also emitted as 'error' on the client: without a
    // listener that is an uncaught exception; the query that failed reports it anyway
    const onError = () => undefined;
    client.on('error', onError);
    let broken = false;
    try {
      await client.query(`BEGIN ISOLATION LEVEL ${isolation}${readOnly ? ' READ ONLY' : ''}`);
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true; // the connection is gone: do not pool it again
      }
      throw e;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  };
  const q = queries(pool, s);

  return {
    schema: opts.schema,
    commit: (batch) =>
      use('commit', () => inTransaction('READ COMMITTED', false, (c) => commitBatch(c, s, batch))),
    loadCheckpoint: (consumer) =>
      use('loadCheckpoint', () =>
        inTransaction('REPEATABLE READ', true, (c) => loadCheckpoint(c, s, consumer)),
      ),
    saveSnapshot: (snap) =>
      use('saveSnapshot', () =>
        inTransaction('READ COMMITTED', false, (c) => saveSnapshot(c, s, snap)),
      ),
    loadSnapshot: (p) =>
      use('loadSnapshot', () =>
        inTransaction('REPEATABLE READ', true, (c) => loadSnapshot(c, s, p)),
      ),
    commitWriter: (b) =>
      use('commitWriter', () =>
        inTransaction('READ COMMITTED', false, (c) => commitWriter(c, s, b)),
      ),
    writerState: () =>
      use('writerState', () => inTransaction('REPEATABLE READ', true, (c) => writerState(c, s))),
    status: () => use('status', () => inTransaction('REPEATABLE READ', true, (c) => status(c, s))),
    count: (adId, from, to, filter) => use('count', () => q.count(adId, from, to, filter)),
    timeseries: (adId, from, to, filter) =>
      use('timeseries', () => q.timeseries(adId, from, to, filter)),
    top: (from, to, n, filter) => use('top', () => q.top(from, to, n, filter)),
    rows: (from, to, dim) => use('rows', () => q.rows(from, to, dim)),
    storedTop: (w, end, dim) => use('storedTop', () => q.storedTop(w, end, dim)),
    late: (limit, after) => use('late', () => q.late(limit, after)),
    ping: () => use('ping', async () => void (await pool.query('SELECT 1'))),
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end().catch((e) => {
        throw storeFailure('close', e);
      });
    },
  };
}

/** Drops a namespace's schema and everything in it (tests; `tally` never calls it). */
export async function dropPgSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schemaIdent(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
