/** Recovery and status reads: one read transaction each, so they see one consistent commit. */
import type Database from 'better-sqlite3';
import { crc32 } from 'node:zlib';
import { TallyError } from '../../core/errors.js';
import type { ConsumerStatus, StoreStatus } from '../../ports/aggregate-reader.js';
import type { Checkpoint } from '../../ports/aggregate-sink.js';
import { type ConsumerStateRow, decodeOffsets, decodeWatermark, totalsOf } from './codec.js';

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

export function prepareCheckpointReads(db: Database.Database): CheckpointReads {
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
  const chainOf = (consumer: string): Uint8Array[][] => {
    const pieces: Uint8Array[][] = [];
    for (const r of chunks.iterate(consumer)) {
      if (r.piece !== pieces.length - 1) pieces.push([]);
      const list = pieces[pieces.length - 1]!;
      if (r.piece !== pieces.length - 1 || r.chunk !== list.length || crc32(r.data) !== r.crc)
        throw new TallyError(
          'TALLY_SNAPSHOT_INVALID',
          `operator snapshot: chunk ${r.chunk} of piece ${r.piece} is missing or corrupt`,
        );
      list.push(new Uint8Array(r.data.buffer, r.data.byteOffset, r.data.byteLength));
    }
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
