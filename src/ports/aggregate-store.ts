/**
 * The aggregate database of the book, plus what makes counting exactly-once: consumer
 * offsets and operator snapshots are committed in the SAME transaction as the rows.
 */

import type { DimKey, MinuteRow, RankedAd, TopRow } from '../core/aggregate/types.js';

export { ALL_DIMS, type DimKey, type MinuteRow, type RankedAd, type TopRow } from '../core/aggregate/types.js';

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

/** One commit of the aggregator: everything below lands atomically or not at all. */
export interface CommitBatch {
  consumer: string;
  rows: MinuteRow[];
  top: TopRow[];
  late: LateRecord[];
  /** next offset to read, per partition, after this commit */
  offsets: Map<number, number>;
  /** the pipeline watermark the operator was advanced to in this cycle */
  watermark: number;
  /** operator state as of `offsets`; written only on snapshot cycles */
  snapshot?: Uint8Array;
  /** per-cycle counters, accumulated in the store for status */
  stats?: { events: number; duplicates: number; late: number };
}

/** A cycle committed after the latest snapshot: replayed on recovery to rebuild state exactly. */
export interface CommittedCycle {
  seq: number;
  offsets: Map<number, number>;
  watermark: number;
}

export interface Checkpoint {
  /** offsets the snapshot reflects (empty map: from the start of the log) */
  snapshotOffsets: Map<number, number>;
  snapshot: Uint8Array | undefined;
  /** cycles committed after the snapshot, in order: replay them to reach `offsets` */
  cycles: CommittedCycle[];
  /** the latest committed offsets */
  offsets: Map<number, number>;
  watermark: number;
  totals: { events: number; duplicates: number; late: number };
}

/** A filter on pre-aggregated dimensions: rows match if their dim key is in `dims`. */
export interface DimFilter {
  dims: DimKey[];
}

export interface AggregateStore {
  commit(batch: CommitBatch): Promise<void>;
  loadCheckpoint(consumer: string): Promise<Checkpoint>;
  /** sum of counts for minutes fromMinute ≤ m < toMinute */
  count(adId: string, fromMinute: number, toMinute: number, filter?: DimFilter): Promise<number>;
  timeseries(
    adId: string,
    fromMinute: number,
    toMinute: number,
    filter?: DimFilter,
  ): Promise<Array<{ minute: number; count: number }>>;
  /** exact top n over fromMinute ≤ m < toMinute, ties by ad_id ascending */
  top(fromMinute: number, toMinute: number, n: number, filter?: DimFilter): Promise<RankedAd[]>;
  /** the precomputed top list, if this (window, end) was computed */
  storedTop(windowMinutes: number, endMinute: number): Promise<TopRow | undefined>;
  /** every row of one dimension key over fromMinute ≤ m < toMinute (reconciliation, tests) */
  rows(fromMinute: number, toMinute: number, dim: string): Promise<MinuteRow[]>;
  late(limit: number, afterOffset?: { partition: number; offset: number }): Promise<LateRecord[]>;
  lateCount(): Promise<number>;
  close(): Promise<void>;
}
