/**
 * The one write path: a whole aggregator cycle in a single IMMEDIATE transaction. Rows carry
 * absolute counts (an upsert, never an increment) and late records are keyed by their log
 * position, so re-committing the same content changes nothing; totals are accumulated in the
 * same transaction as the offsets they account for, so they can neither be lost nor doubled
 * by a crash (recovery replays cycles into the operator, it never commits them again).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { crc32 } from 'node:zlib';
import { ALL_DIMS } from '../../core/aggregate/types.js';
import { TallyError } from '../../core/errors.js';
import type { CommitBatch } from '../../ports/aggregate-sink.js';
import { checkCommitFence, encodeOffsets, encodeRanked, encodeWatermark } from './codec.js';
import { removePieceFiles, writePieceFile, type PieceFile } from './piece-files.js';

const ROWS_PER_STATEMENT = 128;
/**
 * At most this many rows between two turns of the event loop inside the one transaction:
 * about 20 ms of SQLite work on an idle core, so a 200k-row commit no longer holds the loop
 * for 0.4 s.
 */
export const ROWS_PER_SLICE = 8192;
/**
 * ... and a slice also ends once it has held the loop this long: on a loaded machine 8192
 * rows took 100+ ms. Checked every ROWS_PER_CHECK rows.
 */
const SLICE_MS = 10;
const ROWS_PER_CHECK = 1024;

/**
 * The caller must make sure nothing else uses the connection until the promise settles: the
 * transaction stays open across the loop turns between slices (open.ts serialises it).
 */
export type CommitFn = (batch: CommitBatch) => Promise<void>;

/**
 * `pieceDir`: where snapshot pieces go as files of their own (piece-files.ts); undefined (a
 * store in memory): into snapshot_chunks. `walCheckpoint`: who checkpoints the WAL
 * (wal-checkpointer.ts), asked after every commit (`truncate` after a snapshot base); without
 * it the commit does, on this thread.
 */
export function prepareCommit(
  db: Database.Database,
  pieceDir: string | undefined,
  walCheckpoint?: (truncate: boolean) => void,
): CommitFn {
  const currentSeq = db
    .prepare('SELECT seq FROM consumer_state WHERE consumer = ?')
    .pluck() as Database.Statement<[string], number>;
  const upsertState = db.prepare(`
    INSERT INTO consumer_state (consumer, seq, watermark, events, duplicates, late)
    VALUES (@consumer, @seq, @watermark, @events, @duplicates, @late)
    ON CONFLICT (consumer) DO UPDATE SET
      seq = excluded.seq,
      watermark = excluded.watermark,
      events = events + excluded.events,
      duplicates = duplicates + excluded.duplicates,
      late = late + excluded.late`);
  const upsertOffset = db.prepare(`
    INSERT INTO consumer_offsets (consumer, partition_id, next_offset) VALUES (?, ?, ?)
    ON CONFLICT (consumer, partition_id) DO UPDATE SET next_offset = excluded.next_offset`);
  const allOffsets = db.prepare(
    'SELECT partition_id, next_offset FROM consumer_offsets WHERE consumer = ?',
  ) as Database.Statement<[string], { partition_id: number; next_offset: number }>;
  const insertCycle = db.prepare(
    'INSERT INTO cycles (consumer, seq, offsets, watermark) VALUES (?, ?, ?, ?)',
  );
  const upsertSnapshot = db.prepare(`
    INSERT INTO snapshots (consumer, seq, offsets, watermark, state, format)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (consumer) DO UPDATE SET
      seq = excluded.seq, offsets = excluded.offsets,
      watermark = excluded.watermark, state = excluded.state, format = excluded.format`);
  const dropChain = db.prepare('DELETE FROM snapshot_chunks WHERE consumer = ?');
  const chainKeys = db.prepare(
    'SELECT piece, chunk FROM snapshot_chunks WHERE consumer = ? ORDER BY piece, chunk',
  ) as Database.Statement<[string], { piece: number; chunk: number }>;
  const dropChunk = db.prepare(
    'DELETE FROM snapshot_chunks WHERE consumer = ? AND piece = ? AND chunk = ?',
  );
  const lastPiece = db
    .prepare(
      `SELECT max(p) FROM (SELECT max(piece) AS p FROM snapshot_chunks WHERE consumer = ?
        UNION ALL SELECT max(piece) FROM snapshot_files WHERE consumer = ?)`,
    )
    .pluck() as Database.Statement<[string, string], number | null>;
  const fileNames = db
    .prepare('SELECT name FROM snapshot_files WHERE consumer = ?')
    .pluck() as Database.Statement<[string], string>;
  const dropFiles = db.prepare('DELETE FROM snapshot_files WHERE consumer = ?');
  const insertFile = db.prepare(
    'INSERT INTO snapshot_files (consumer, piece, name, bytes, chunks) VALUES (?, ?, ?, ?, ?)',
  );
  const insertChunk = db.prepare(
    'INSERT INTO snapshot_chunks (consumer, piece, chunk, crc, data) VALUES (?, ?, ?, ?, ?)',
  );
  const EMPTY = new Uint8Array(0);
  const pruneCycles = db.prepare('DELETE FROM cycles WHERE consumer = ? AND seq <= ?');
  const upsertTop = db.prepare(`
    INSERT INTO most_clicked_ads (window_minutes, end_minute, dim, ads) VALUES (?, ?, ?, ?)
    ON CONFLICT (window_minutes, end_minute, dim) DO UPDATE SET ads = excluded.ads`);
  const insertLate = db.prepare(`
    INSERT INTO late_events
      (partition_id, log_offset, ad_id, event_time, event_id, watermark, raw, arrived_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (partition_id, log_offset) DO NOTHING`);
  const upsertRowsSql = (n: number) => `
    INSERT INTO minute_counts (minute, dim, ad_id, count) VALUES ${new Array(n).fill('(?, ?, ?, ?)').join(', ')}
    ON CONFLICT (minute, dim, ad_id) DO UPDATE SET count = excluded.count`;
  const upsertRow = db.prepare(upsertRowsSql(1));
  // multi-row statements: binding and stepping one statement per row cost more than the
  // b-tree work (0.61 vs 0.35 M rows/s measured for 128-row statements)
  const upsertRows = db.prepare(upsertRowsSql(ROWS_PER_STATEMENT));
  const args: Array<number | string> = new Array(ROWS_PER_STATEMENT * 4);
  /** rows[from, to): whole statements, then single rows for the rest */
  const writeRows = (rows: CommitBatch['rows'], from: number, to: number) => {
    let i = from;
    for (; i + ROWS_PER_STATEMENT <= to; i += ROWS_PER_STATEMENT) {
      for (let j = 0; j < ROWS_PER_STATEMENT; j++) {
        const r = rows[i + j]!;
        args[4 * j] = r.minute;
        args[4 * j + 1] = r.dim;
        args[4 * j + 2] = r.adId;
        args[4 * j + 3] = r.count;
      }
      upsertRows.run(args);
    }
    for (; i < to; i++) {
      const r = rows[i]!;
      upsertRow.run(r.minute, r.dim, r.adId, r.count);
    }
  };

  /**
   * everything but the snapshot chunks and the minute rows; returns where the chunks go. The
   * files of a chain it replaces are added to `replaced`, to remove once committed.
   */
  const head = (batch: CommitBatch, replaced: string[]): number => {
    const previous = currentSeq.get(batch.consumer) ?? 0;
    checkCommitFence(batch, previous);
    const seq = previous + 1;
    const watermark = encodeWatermark(batch.watermark);
    upsertState.run({
      consumer: batch.consumer,
      seq,
      watermark,
      events: batch.stats?.events ?? 0,
      duplicates: batch.stats?.duplicates ?? 0,
      late: batch.stats?.late ?? 0,
    });

    for (const [partition, next] of batch.offsets)
      upsertOffset.run(batch.consumer, partition, next);
    // cycles and snapshots record ALL offsets, so each one alone says where replay stands
    const offsets = encodeOffsets(
      new Map(allOffsets.all(batch.consumer).map((r) => [r.partition_id, r.next_offset])),
    );
    const piece = batch.snapshotPiece;
    let at = 0;
    if (piece !== undefined) {
      // a base's old chain is deleted chunk by chunk by the caller, before the new chunks
      if (piece.base) {
        replaced.push(...fileNames.all(batch.consumer));
        dropFiles.run(batch.consumer);
      } else {
        const last = lastPiece.get(batch.consumer, batch.consumer);
        if (last === null || last === undefined)
          throw new TallyError(
            'TALLY_STORE_FAILURE',
            `commit of ${batch.consumer} refused: a snapshot delta without a base`,
          );
        at = last + 1;
      }
      upsertSnapshot.run(batch.consumer, seq, offsets, watermark, EMPTY, 2);
      pruneCycles.run(batch.consumer, seq);
    } else if (batch.snapshot === undefined) {
      insertCycle.run(batch.consumer, seq, offsets, watermark);
    } else {
      // the snapshot reflects this cycle and every earlier one: none needs replaying any more
      dropChain.run(batch.consumer);
      replaced.push(...fileNames.all(batch.consumer));
      dropFiles.run(batch.consumer);
      upsertSnapshot.run(batch.consumer, seq, offsets, watermark, batch.snapshot, 1);
      pruneCycles.run(batch.consumer, seq);
    }

    for (const t of batch.top)
      upsertTop.run(t.windowMinutes, t.endMinute, t.dim ?? ALL_DIMS, encodeRanked(t.ads));
    for (const l of batch.late) {
      insertLate.run(
        l.partition,
        l.offset,
        l.adId,
        l.timestamp,
        l.eventId,
        encodeWatermark(l.watermark),
        l.raw,
        l.arrivedAt ?? null,
      );
    }
    return at;
  };

  // IMMEDIATE: take the write lock up front, so a concurrent writer waits (busy_timeout)
  // instead of failing to upgrade a read lock halfway through the cycle
  const begin = db.prepare('BEGIN IMMEDIATE');
  const end = db.prepare('COMMIT');
  const rollback = db.prepare('ROLLBACK');
  const busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
  const checkpointNow = () => {
    db.pragma('busy_timeout = 0');
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      db.pragma(`busy_timeout = ${busyTimeout}`);
    }
  };

  return async (batch) => {
    // the piece's file first, whole and fsynced, outside the transaction (its writes run off
    // this thread); only the row the transaction inserts makes it part of the chain
    let file: PieceFile | undefined;
    const chunks = batch.snapshotPiece?.chunks ?? [];
    if (pieceDir !== undefined && batch.snapshotPiece !== undefined) {
      const seq = (currentSeq.get(batch.consumer) ?? 0) + 1;
      const at = batch.snapshotPiece.base
        ? 0
        : (lastPiece.get(batch.consumer, batch.consumer) ?? -1) + 1;
      file = await writePieceFile(
        pieceDir,
        batch.consumer,
        seq,
        at,
        chunks,
        batch.snapshotPiece.regions,
      );
    }
    const replaced: string[] = [];
    begin.run();
    try {
      const piece = head(batch, replaced);
      let turns = 0;
      // a snapshot chunk per loop turn (a store in memory); a base first drops the old chain the
      // same way: freeing a large blob reads its every page (3.4 s in one statement, 2M ads)
      if (batch.snapshotPiece?.base === true)
        for (const k of chainKeys.all(batch.consumer)) {
          if (turns++ > 0) await yieldToLoop();
          dropChunk.run(batch.consumer, k.piece, k.chunk);
        }
      if (file !== undefined)
        insertFile.run(batch.consumer, piece, file.name, file.bytes, file.chunks);
      else
        for (let i = 0; i < chunks.length; i++) {
          if (turns++ > 0) await yieldToLoop();
          const c = chunks[i]!;
          insertChunk.run(batch.consumer, piece, i, crc32(c), c);
        }
      const rows = batch.rows;
      // after a snapshot chunk, the rows start on a turn of their own
      let inSlice = turns > 0 ? ROWS_PER_SLICE : 0;
      let sliceAt = performance.now();
      for (let at = 0; at < rows.length; at += ROWS_PER_CHECK) {
        // the first slice runs at once: a small commit takes no extra loop turn
        if (
          turns > 0 &&
          (inSlice >= ROWS_PER_SLICE || (inSlice > 0 && performance.now() - sliceAt >= SLICE_MS))
        ) {
          await yieldToLoop();
          inSlice = 0;
          sliceAt = performance.now();
        }
        turns++;
        const to = Math.min(rows.length, at + ROWS_PER_CHECK);
        writeRows(rows, at, to);
        inSlice += to - at;
      }
      end.run();
    } catch (e) {
      // a failed statement may already have ended the transaction (SQLITE_FULL, IOERR)
      if (db.inTransaction) rollback.run();
      // the new file stays: if COMMIT itself failed, whether it landed is not known here;
      // the next loadCheckpoint removes it if no committed row names it
      throw e;
    }
    if (pieceDir !== undefined) removePieceFiles(pieceDir, replaced);
    // a base replaces the whole chain: fold the WAL (as large as the base) into the file and
    // truncate it, so the disk holds the state about once, not twice. Without waiting: a
    // reader (thread or process) in a read transaction would hold this thread in the busy
    // handler until it ends (5 s measured); the WAL is then reset after a later commit, and
    // journal_size_limit caps it
    if (walCheckpoint !== undefined) walCheckpoint(batch.snapshotPiece?.base === true);
    else if (batch.snapshotPiece?.base === true) checkpointNow();
  };
}
