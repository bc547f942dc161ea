/**
 * The aggregate database of the book, plus what makes counting exactly-once: consumer
 * offsets and operator snapshots are committed in the SAME transaction as the rows.
 */
import type { MinuteRow, RankedAd, TopRow, DimKey } from '../core/aggregate/types.js';

export type { MinuteRow, RankedAd, TopRow, DimKey } from '../core/aggregate/types.js';
export { ALL_DIMS } from '../core/aggregate/types.js';

/** An event that came beyond the allowed lateness: kept, never counted silently. */
export interface LateRecord {
  partition: number;
  offset: number;
  adId: string;
  timestamp: number;
  eventId: string;
  /** the watermark it arrived behind */
  watermark: number;
  /** JSON text of the full event */
  raw: string;
}

/** Per-cycle counters, accumulated in the store (exactly once: in the commit's transaction). */
export interface CycleStats {
  events: number;
  duplicates: number;
  late: number;
}

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
  /** per-cycle counters, accumulated in the store for status */
  stats?: CycleStats;
  /**
   * Fencing: the seq of the consumer's latest commit as this writer knows it (Checkpoint.seq,
   * then +1 per commit). When given and the store holds another seq, the commit is refused and
   * nothing is written: a zombie writer cannot interleave with its successor.
   */
  expectedSeq?: number;
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
  /** cycles committed after the snapshot, in order: replay them to reach `offsets` */
  cycles: CommittedCycle[];
  /** the latest committed offsets */
  offsets: Map<number, number>;
  watermark: number;
  totals: CycleStats;
}

/** A filter on pre-aggregated dimensions: rows match if their dim key is in `dims`. */
export interface DimFilter {
  dims: DimKey[];
}

export interface ConsumerStatus {
  consumer: string;
  seq: number;
  snapshotSeq: number;
  offsets: Map<number, number>;
  watermark: number;
  totals: CycleStats;
}

export interface StoreStatus {
  consumers: ConsumerStatus[];
  /** late records kept (all partitions) */
  lateRecords: number;
}

export interface PruneResult {
  /** minute rows deleted */
  rows: number;
  /** most-clicked lists deleted */
  topRows: number;
}

export interface AggregateStore {
  commit(batch: CommitBatch): Promise<void>;
  loadCheckpoint(consumer: string): Promise<Checkpoint>;
  /** sum of counts for minutes fromMinute ≤ m < toMinute */
  count(adId: string, fromMinute: number, toMinute: number, filter?: DimFilter): Promise<number>;
  /** per-minute sums, ascending, only minutes that have rows (the caller fills zeros) */
  timeseries(
    adId: string,
    fromMinute: number,
    toMinute: number,
    filter?: DimFilter,
  ): Promise<Array<{ minute: number; count: number }>>;
  /** exact top n over fromMinute ≤ m < toMinute, ties by ad_id ascending */
  top(fromMinute: number, toMinute: number, n: number, filter?: DimFilter): Promise<RankedAd[]>;
  /** every row of one dimension key over fromMinute ≤ m < toMinute, by minute then ad_id (reconciliation) */
  rows(fromMinute: number, toMinute: number, dim: DimKey): Promise<MinuteRow[]>;
  /** the precomputed top list, if this (window, end) was computed */
  storedTop(windowMinutes: number, endMinute: number): Promise<TopRow | undefined>;
  /** late records in (partition, offset) order, strictly after `afterOffset` when given */
  late(limit: number, afterOffset?: { partition: number; offset: number }): Promise<LateRecord[]>;
  /** offsets, watermarks and totals of every consumer, for /v1/status */
  status(): Promise<StoreStatus>;
  /**
   * Retention: deletes minute rows with minute < `minute` and most-clicked lists whose window
   * ends at or before it. Late records and checkpoints are kept.
   */
  pruneBefore(minute: number): Promise<PruneResult>;
  /** idempotent; every later call fails with TALLY_STORE_FAILURE */
  close(): Promise<void>;
}
