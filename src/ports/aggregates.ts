/**
 * What the aggregate database of the book holds, shared by its two ports: the sink the
 * aggregator commits to (aggregate-sink.ts) and the reader the queries use
 * (aggregate-reader.ts). One adapter implements both over one database.
 */
export type { MinuteRow, RankedAd, TopRow, DimKey } from '../core/aggregate/types.js';
export { ALL_DIMS } from '../core/aggregate/types.js';
import type { LateEvent } from '../core/aggregate/types.js';

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

/** A late event of the operator as the stores keep it (the event as JSON text). */
export function toLateRecord(l: LateEvent): LateRecord {
  const e = l.event;
  return {
    partition: l.partition,
    offset: l.offset,
    adId: e.adId,
    timestamp: e.timestamp,
    eventId: e.eventId,
    watermark: l.watermark,
    arrivedAt: l.arrivedAt,
    raw: JSON.stringify({
      ad_id: e.adId,
      timestamp: new Date(e.timestamp).toISOString(),
      event_id: e.eventId,
      ...(e.userId === undefined ? {} : { user_id: e.userId }),
      ...(e.ip === undefined ? {} : { ip: e.ip }),
      ...(e.country === undefined ? {} : { country: e.country }),
      ...(e.extra === undefined ? {} : { extra: JSON.parse(e.extra) as unknown }),
    }),
  };
}
