/** Recovery and status reads: one read transaction each, so they see one consistent commit. */
import type Database from 'better-sqlite3';
import { crc32 } from 'node:zlib';
import { TallyError } from '../../core/errors.js';
import type { ConsumerStatus, StoreStatus } from '../../ports/aggregate-reader.js';
import type { Checkpoint } from '../../ports/aggregate-sink.js';
import { type ConsumerStateRow, decodeOffsets, decodeWatermark, totalsOf } from './codec.js';
import { readPieceFile, sweepPieceFiles, type PieceFile } from './piece-files.js';

interface SnapshotRow {
  seq: number;
  offsets: string;
  watermark: number | null;
  state: Buffer;
  format: number;
}

interface ChunkRow {
  piece: number;
  chunk: number;
  crc: number;
  data: Buffer;
}

interface CycleRow {
  seq: number;
  offsets: string;
  watermark: number | null;
}

export interface CheckpointReads {
  loadCheckpoint(consumer: string): Checkpoint;
  status(): StoreStatus;
}

/**
 * `pieceDir`: where the pieces in files are (piece-files.ts); undefined: none can be. `sweep`:
 * a load removes the consumer's files no commit names; only the writer's own store may (a
 * reader beside a running writer could take a file whose commit is under way).
 */
export function prepareCheckpointReads(
  db: Database.Database,
  pieceDir: string | undefined,
  sweep: boolean,
): CheckpointReads {
  const state = db.prepare(
    'SELECT consumer, seq, watermark, events, duplicates, late FROM consumer_state WHERE consumer = ?',
  ) as Database.Statement<[string], ConsumerStateRow>;
  const allStates = db.prepare(
    'SELECT consumer, seq, watermark, events, duplicates, late FROM consumer_state ORDER BY consumer',
  ) as Database.Statement<[], ConsumerStateRow>;
  const snapshot = db.prepare(
    'SELECT seq, offsets, watermark, state, format FROM snapshots WHERE consumer = ?',
  ) as Database.Statement<[string], SnapshotRow>;
  const chunks = db.prepare(
    'SELECT piece, chunk, crc, data FROM snapshot_chunks WHERE consumer = ? ORDER BY piece, chunk',
  ) as Database.Statement<[string], ChunkRow>;
  const files = db.prepare(
    'SELECT piece, name, bytes, chunks FROM snapshot_files WHERE consumer = ? ORDER BY piece',
  ) as Database.Statement<[string], PieceFile & { piece: number }>;
  const chainOf = (consumer: string): Uint8Array[][] => {
    // a chain may hold pieces of both kinds (files came with schema 5): by piece number
    const inFiles = new Map(files.all(consumer).map((f) => [f.piece, f]));
    const pieces: Uint8Array[][] = [];
    let used = 0;
    /** the pieces in files that come next */
    const fill = () => {
      for (let f = inFiles.get(pieces.length); f !== undefined; f = inFiles.get(pieces.length)) {
        if (pieceDir === undefined)
          throw new TallyError(
            'TALLY_SNAPSHOT_INVALID',
            `operator snapshot: piece ${f.piece} is in a file, and this store has no directory`,
          );
        pieces.push(readPieceFile(pieceDir, f.piece, f));
        used++;
      }
    };
    let last = -1;
    for (const r of chunks.iterate(consumer)) {
      if (r.piece !== last) {
        fill();
        pieces.push([]);
        last = r.piece;
      }
      const list = pieces[pieces.length - 1]!;
      if (r.piece !== pieces.length - 1 || r.chunk !== list.length || crc32(r.data) !== r.crc)
        throw new TallyError(
          'TALLY_SNAPSHOT_INVALID',
          `operator snapshot: chunk ${r.chunk} of piece ${r.piece} is missing or corrupt`,
        );
      list.push(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength));
    }
    fill();
    if (used !== inFiles.size)
      throw new TallyError(
        'TALLY_SNAPSHOT_INVALID',
        'operator snapshot: a piece of the chain is missing',
      );
    return pieces;
  };
  const snapshotSeqs = db.prepare(
    'SELECT consumer, seq, offsets FROM snapshots',
  ) as Database.Statement<[], { consumer: string; seq: number; offsets: string }>;
  const cycles = db.prepare(
    'SELECT seq, offsets, watermark FROM cycles WHERE consumer = ? AND seq > ? ORDER BY seq',
  ) as Database.Statement<[string, number], CycleRow>;
  const offsets = db.prepare(
    'SELECT partition_id, next_offset FROM consumer_offsets WHERE consumer = ? ORDER BY partition_id',
  ) as Database.Statement<[string], { partition_id: number; next_offset: number }>;
  const lateCount = db.prepare('SELECT count(*) FROM late_events').pluck() as Database.Statement<
    [],
    number
  >;

  const offsetsOf = (consumer: string) =>
    new Map(offsets.all(consumer).map((r) => [r.partition_id, r.next_offset]));

  const loadCheckpoint = db.transaction((consumer: string): Checkpoint => {
    const s = state.get(consumer);
    const snap = snapshot.get(consumer);
    // files no committed row names: a write that never committed (a kill, a failed commit)
    if (pieceDir !== undefined && sweep)
      sweepPieceFiles(pieceDir, consumer, new Set(files.all(consumer).map((f) => f.name)));
    const snapshotSeq = snap?.seq ?? 0;
    return {
      seq: s?.seq ?? 0,
      snapshotSeq,
      snapshotOffsets: snap === undefined ? new Map() : decodeOffsets(snap.offsets),
      snapshotWatermark: decodeWatermark(snap?.watermark),
      // a view, not a copy: the port speaks Uint8Array, the driver returns a Buffer
      snapshot:
        snap === undefined || snap.format !== 1
          ? undefined
          : new Uint8Array(snap.state.buffer, snap.state.byteOffset, snap.state.byteLength),
      snapshotChain: snap?.format === 2 ? chainOf(consumer) : [],
      cycles: cycles.all(consumer, snapshotSeq).map((c) => ({
        seq: c.seq,
        offsets: decodeOffsets(c.offsets),
        watermark: decodeWatermark(c.watermark),
      })),
      offsets: offsetsOf(consumer),
      watermark: decodeWatermark(s?.watermark),
      totals: totalsOf(s),
    };
  });

  const status = db.transaction((): StoreStatus => {
    const snaps = new Map(snapshotSeqs.all().map((r) => [r.consumer, r]));
    const consumers: ConsumerStatus[] = allStates.all().map((s) => ({
      consumer: s.consumer,
      seq: s.seq,
      snapshotSeq: snaps.get(s.consumer)?.seq ?? 0,
      snapshotOffsets: decodeOffsets(snaps.get(s.consumer)?.offsets ?? '{}'),
      offsets: offsetsOf(s.consumer),
      watermark: decodeWatermark(s.watermark),
      totals: totalsOf(s),
    }));
    return { consumers, lateRecords: lateCount.get() ?? 0 };
  });

  // DEFERRED: a read transaction, which never blocks the writer under WAL
  return {
    loadCheckpoint: (consumer) => loadCheckpoint.deferred(consumer),
    status: () => status.deferred(),
  };
}
