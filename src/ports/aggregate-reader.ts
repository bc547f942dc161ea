/**
 * The query side of the aggregate database: what the query service, `tally late` and the
 * default `to` of a query read. Reads never block the aggregator's commits.
 */
import type { CycleStats, DimKey, LateRecord, RankedAd, TopRow } from './aggregates.js';

/** A filter on pre-aggregated dimensions: rows match if their dim key is in `dims`. */
export interface DimFilter {
  dims: DimKey[];
}

export interface ConsumerStatus {
  consumer: string;
  seq: number;
  snapshotSeq: number;
  /**
   * the offsets the latest snapshot reflects (empty: no snapshot): recovery replays the log
   * from here, so retention keeps every record at or above them
   */
  snapshotOffsets: Map<number, number>;
  offsets: Map<number, number>;
  watermark: number;
  totals: CycleStats;
}

export interface StoreStatus {
  consumers: ConsumerStatus[];
  /** late records kept (all partitions) */
  lateRecords: number;
}

export interface AggregateReader {
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
  /**
   * the precomputed top list, if this (window, end) was computed: of every event, or with
   * `dim` (`country=US`) of the events with that value of a pre-aggregated dimension
   */
  storedTop(windowMinutes: number, endMinute: number, dim?: DimKey): Promise<TopRow | undefined>;
  /** late records in (partition, offset) order, strictly after `afterOffset` when given */
  late(limit: number, afterOffset?: { partition: number; offset: number }): Promise<LateRecord[]>;
  /**
   * offsets, committed watermark and totals of every consumer: a query process that does not
   * run the aggregator takes the default `to` of `top` from here
   */
  status(): Promise<StoreStatus>;
}
