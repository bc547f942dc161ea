/**
 * The embedded aggregate store: one SQLite file in WAL mode. better-sqlite3 is synchronous:
 * each call runs to completion on the calling thread, so the queries may run on reader
 * threads (readThreads) and a commit yields to the event loop between slices of rows. The
 * interface is async for that, for the PostgreSQL adapter, and so that failures arrive as
 * rejections.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { TallyError } from '../../core/errors.js';
import type { AggregateReader } from '../../ports/aggregate-reader.js';
import type { AggregateRepair } from '../../ports/aggregate-repair.js';
import type { AggregateSink } from '../../ports/aggregate-sink.js';
import type { DimKey, MinuteRow } from '../../ports/aggregates.js';
import { prepareCheckpointReads } from './checkpoint.js';
import { prepareCommit } from './commit.js';
import { preparePosition, prepareRollup } from './rollup.js';
import type { AggregateRetention } from '../../ports/aggregate-retention.js';
import { guard, storeFailure } from './errors.js';
import { pieceDirOf } from './piece-files.js';
import type { StoreLogger } from './logger.js';
import { preparePrune, type PruneResult } from './prune.js';
import { prepareQueries } from './queries.js';
import { startReadPool, type ReadPool } from './read-pool.js';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.js';
import { prepareRepair } from './repair.js';
import { checkVersion, ensureIndex, hasIndex, migrate } from './schema.js';

export interface SqliteStoreOptions {
  /** path of the database file; it and its directory are created if absent (unless readonly) */
  file: string;
  /** a reader beside a running writer (CLI queries): no migration, every write fails */
  readonly?: boolean;
  /**
   * FULL (default): a commit survives power loss once it returns. NORMAL: survives a process
   * crash, but the last commits may be lost on power loss (WAL is fsynced at checkpoints only).
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** how long to wait for another process's write lock, ms (default 5000) */
  busyTimeoutMs?: number;
  /** page cache, MiB (default 64) */
  cacheMiB?: number;
  /**
   * Create the (ad_id, dim, minute) index: count/timeseries read one index range instead of one
   * key seek per minute. Costs about three quarters of the commit rate at 2M ads. Never dropped
   * once created; queries use it whenever it exists.
   */
  perAdIndex?: boolean;
  /**
   * Create the (minute, dim, count DESC, ad_id) index: the top N of a single minute reads N
   * entries instead of the whole minute. Costs about 40 % of the commit rate. Never dropped.
   */
  topIndex?: boolean;
  /**
   * Answer count, timeseries, top, storedTop and late on this many reader threads, each with
   * its own read-only connection (default 0: on the calling thread). A long query then leaves
   * the event loop free for ingest and the other requests. Needs a file (WAL), not readonly.
   */
  readThreads?: number;
  /**
   * Checkpoint the WAL on a thread of its own (wal-checkpointer.ts) instead of inside the
   * commits (SQLite's automatic checkpoint: seconds of the event loop after a large commit).
   * Needs a file, not readonly.
   */
  walThread?: boolean;
  logger?: StoreLogger;
}

/**
 * Both ports over one SQLite file, plus what only this adapter's own tests call today:
 * `rows` (every row of one dimension value, in key order; the reconciliation job will read
 * through it) and `pruneBefore` (retention). Whoever opens the store closes it.
 */
export interface SqliteAggregateStore
  extends AggregateSink, AggregateReader, AggregateRepair, AggregateRetention {
  /** every row of one dimension key over fromMinute ≤ m < toMinute, by minute then ad_id */
  rows(fromMinute: number, toMinute: number, dim: DimKey): Promise<MinuteRow[]>;
  /**
   * Retention: deletes minute rows with minute < `minute` and most-clicked lists whose window
   * ends at or before it. Late records and checkpoints are kept.
   */
  pruneBefore(minute: number): Promise<PruneResult>;
  /** idempotent; every later call fails with TALLY_STORE_FAILURE */
  close(): Promise<void>;
  readonly file: string;
  readonly schemaVersion: number;
  /** whether count/timeseries read the per-ad index */
  readonly perAdIndex: boolean;
  /** whether single-minute top-N reads the top-of-minute index */
  readonly topIndex: boolean;
}

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<SqliteAggregateStore> {
  const readonly = opts.readonly === true;
  let db: Database.Database;
  try {
    if (!readonly) mkdirSync(dirname(opts.file), { recursive: true });
    db = new Database(opts.file, { readonly, fileMustExist: readonly });
  } catch (e) {
    throw storeFailure(`open ${opts.file}`, e);
  }
  try {
    return build(db, opts);
  } catch (e) {
    db.close();
    throw storeFailure(`open ${opts.file}`, e);
  }
}

function build(db: Database.Database, opts: SqliteStoreOptions): SqliteAggregateStore {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
  db.pragma(`cache_size = ${-1024 * Math.max(1, Math.floor(opts.cacheMiB ?? 64))}`);
  let schemaVersion: number;
  if (opts.readonly === true) {
    schemaVersion = checkVersion(db);
  } else {
    // WAL: readers (queries, other processes) never block the writer, nor it them
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') {
      throw new TallyError('TALLY_STORE_FAILURE', `sqlite store: ${opts.file} cannot use WAL mode`);
    }
    db.pragma(`synchronous = ${opts.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
    // the WAL is reset after each checkpoint; this caps what a large commit leaves on disk
    db.pragma('journal_size_limit = 67108864');
    schemaVersion = migrate(db, opts.logger);
    if (opts.perAdIndex === true) ensureIndex(db, 'perAd');
    if (opts.topIndex === true) ensureIndex(db, 'topOfMinute');
  }
  const perAdIndex = hasIndex(db, 'perAd');
  const topIndex = hasIndex(db, 'topOfMinute');

  // snapshot pieces in files beside the store file; a store in memory keeps them in its rows
  const pieceDir =
    opts.file === '' || opts.file === ':memory:' ? undefined : pieceDirOf(resolve(opts.file));
  const wal: WalCheckpointer | undefined =
    opts.readonly !== true && opts.walThread === true
      ? startWalCheckpointer(opts.file, opts.logger)
      : undefined;
  // the thread checkpoints: the writer's commits no longer do
  if (wal !== undefined) db.pragma('wal_autocheckpoint = 0');
  const commit = prepareCommit(db, pieceDir, wal === undefined ? undefined : (t) => wal.request(t));
  const checkpoints = prepareCheckpointReads(db, pieceDir, opts.readonly !== true);
  const queries = prepareQueries(db, perAdIndex);
  // one step (transaction) at a time under the connection's lock, so commits interleave
  const step = <T>(what: string, fn: () => T): Promise<T> => open(what, fn);
  const prune = preparePrune(db, step);
  const rollUp = prepareRollup(db, step);
  const position = preparePosition(db);
  // prepared on a read-only open too: its writes then fail like every other write
  const repair = prepareRepair(db);
  const repairOf = () => repair;
  const threads = opts.readonly === true ? 0 : Math.max(0, Math.floor(opts.readThreads ?? 0));
  const pool: ReadPool | undefined =
    threads > 0
      ? startReadPool(
          {
            file: opts.file,
            busyTimeoutMs: Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000)),
            cacheMiB: Math.max(1, Math.floor(opts.cacheMiB ?? 64)),
          },
          threads,
        )
      : undefined;
  opts.logger?.info(
    {
      file: opts.file,
      schemaVersion,
      perAdIndex,
      topIndex,
      readThreads: threads,
      walThread: wal !== undefined,
    },
    'aggregate store open',
  );

  let closed = false;
  // the connection is used by one operation at a time: a commit keeps its transaction open
  // across event-loop turns (commit.ts), and nothing else may run inside it meanwhile
  let tail: Promise<unknown> = Promise.resolve();
  const open = <T>(what: string, fn: () => T | Promise<T>): Promise<T> => {
    const run = async () => {
      if (closed) throw new TallyError('TALLY_STORE_FAILURE', `sqlite store: ${what} after close`);
      try {
        return await fn();
      } catch (e) {
        throw storeFailure(what, e);
      }
    };
    const result = tail.then(run, run);
    tail = result.catch(() => undefined);
    return result;
  };

  return {
    file: opts.file,
    schemaVersion,
    perAdIndex,
    topIndex,
    commit: async (batch) => open('commit', () => commit(batch)),
    loadCheckpoint: async (consumer) =>
      open('loadCheckpoint', () => checkpoints.loadCheckpoint(consumer)),
    count: async (adId, from, to, filter) =>
      pool
        ? pool.call('count', adId, from, to, filter)
        : open('count', () => queries.count(adId, from, to, filter)),
    timeseries: async (adId, from, to, filter) =>
      pool
        ? pool.call('timeseries', adId, from, to, filter)
        : open('timeseries', () => queries.timeseries(adId, from, to, filter)),
    top: async (from, to, n, filter) =>
      pool
        ? pool.call('top', from, to, n, filter)
        : open('top', () => queries.top(from, to, n, filter)),
    rows: async (from, to, dim) => open('rows', () => queries.rows(from, to, dim)),
    storedTop: async (windowMinutes, endMinute, dim) =>
      pool
        ? pool.call('storedTop', windowMinutes, endMinute, dim)
        : open('storedTop', () => queries.storedTop(windowMinutes, endMinute, dim)),
    late: async (limit, after) =>
      pool ? pool.call('late', limit, after) : open('late', () => queries.late(limit, after)),
    status: async () => open('status', () => checkpoints.status()),
    minuteRows: async (minute) => open('minuteRows', () => repairOf().minuteRows(minute)),
    topRows: async (fromEnd, toEnd) => open('topRows', () => repairOf().topRows(fromEnd, toEnd)),
    lateBetween: async (fromTime, toTime) =>
      open('lateBetween', () => repairOf().lateBetween(fromTime, toTime)),
    beginRepair: async (run) => open('beginRepair', () => repairOf().beginRepair(run)),
    applyRepair: async (batch) => open('applyRepair', () => repairOf().applyRepair(batch)),
    finishRepair: async (runId, done) =>
      open('finishRepair', () => repairOf().finishRepair(runId, done)),
    repairRuns: async (limit) => open('repairRuns', () => repairOf().repairRuns(limit)),
    repairChanges: async (limit, runId) =>
      open('repairChanges', () => repairOf().repairChanges(limit, runId)),
    retentionPosition: async () => open('retentionPosition', position),
    rollUp: async (minutesBefore, hoursBefore) => rollUp(minutesBefore, hoursBefore),
    pruneBefore: async (minute) => prune(minute),
    close: async () => {
      if (closed) return;
      closed = true;
      // let the operation under way (a commit between slices) finish first
      await tail;
      await pool?.close();
      await wal?.close();
      if (opts.readonly !== true) {
        try {
          // refreshes planner statistics where they drifted; cheap, and only on close
          db.pragma('optimize');
        } catch (e) {
          opts.logger?.warn({ err: e }, 'aggregate store: optimize on close failed');
        }
      }
      guard('close', () => db.close());
    },
  };
}
