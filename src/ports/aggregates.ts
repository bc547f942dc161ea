/**
 * What the aggregate database of the book holds, shared by its two ports: the sink the
 * aggregator commits to (aggregate-sink.ts) and the reader the queries use
 * (aggregate-reader.ts). One adapter implements both over one database.
 */
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
  /** wall-clock ms at which the aggregator read it; undefined when recorded before it was kept */
  arrivedAt?: number | undefined;
  /** the finished repair that recounted it (reads only; a commit ignores it) */
  foldedBy?: { runId: number; at: number } | undefined;
}

/** Per-cycle counters, accumulated in the store (exactly once: in the commit's transaction). */
export interface CycleStats {
  events: number;
  duplicates: number;
  late: number;
}
