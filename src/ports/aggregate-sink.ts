/**
 * Where the aggregator commits, and what it recovers from. Counting is exactly-once because
 * the consumer's offsets and operator snapshots are committed in the SAME transaction as the
 * rows they produced.
 */
import type { CycleStats, LateRecord, MinuteRow, TopRow } from './aggregates.js';

/** One commit of the aggregator: everything below lands atomically or not at all. */
export interface CommitBatch {
  consumer: string;
  rows: MinuteRow[];
  top: TopRow[];
  late: LateRecord[];
  /** next offset to read, per partition, after this commit (partitions absent keep theirs) */
  offsets: Map<number, number>;
  /** the pipeline watermark the operator was advanced to in this cycle */
  watermark: number;
  /** operator state as of `offsets`; written only on snapshot cycles */
  snapshot?: Uint8Array;
  /**
   * Or a piece of an incremental snapshot chain as of `offsets`: a base replaces the stored
   * chain (and any `snapshot`), a delta is appended to it. Chunks are stored as they are,
   * in order; they may be views of live memory, valid until commit returns.
   */
  snapshotPiece?: SnapshotPieceBatch;
  /** per-cycle counters, accumulated in the store for status */
  stats?: CycleStats;
  /**
   * Fencing: the seq of the consumer's latest commit as this writer knows it (Checkpoint.seq,
   * then +1 per commit). When given and the store holds another seq, the commit is refused
   * (TALLY_STORE_FAILURE, details.reason 'fenced') and nothing is written: a zombie writer
   * cannot interleave with its successor.
   */
  expectedSeq?: number;
}

export interface SnapshotPieceBatch {
  base: boolean;
  chunks: readonly Uint8Array[];
  /**
   * chunks that start a region (SnapshotPiece.regions): a store that reads a piece back into
   * memory in one go may read each region into one buffer of its own, chunks back to back at
   * multiples of 8, so a restore takes the region as one array (the dedup slots of a base)
   */
  regions?: readonly number[];
}

/** A cycle committed after the latest snapshot: replayed on recovery to rebuild state exactly. */
export interface CommittedCycle {
  seq: number;
  /** all of the consumer's offsets after this cycle */
  offsets: Map<number, number>;
  watermark: number;
}

export interface Checkpoint {
  /** seq of the latest commit of this consumer (0: none); commits number 1, 2, 3, … */
  seq: number;
  /** seq of the commit that wrote the snapshot (0: no snapshot) */
  snapshotSeq: number;
  /** offsets the snapshot reflects (empty map: from the start of the log) */
  snapshotOffsets: Map<number, number>;
  /** the watermark as of the snapshot (-Infinity: no snapshot) */
  snapshotWatermark: number;
  snapshot: Uint8Array | undefined;
  /**
   * the incremental chain instead (base first, each piece as its chunks); empty if none.
   * Read afresh by each load: the caller's own (a restore takes the dedup slots as they are)
   */
  snapshotChain: Uint8Array[][];
  /** cycles committed after the snapshot, in order: replay them to reach `offsets` */
  cycles: CommittedCycle[];
  /** the latest committed offsets */
  offsets: Map<number, number>;
  watermark: number;
  totals: CycleStats;
}

/** The aggregator runner's side of the aggregate database. */
export interface AggregateSink {
  /** one atomic write: rows (absolute counts, upserted), top lists, late records, offsets, snapshot */
  commit(batch: CommitBatch): Promise<void>;
  /** the latest snapshot and the cycles committed after it, for snapshot + replay recovery */
  loadCheckpoint(consumer: string): Promise<Checkpoint>;
}
