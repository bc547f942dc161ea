import type { ClickEvent } from '../event/types.js';

/** Pre-aggregated dimension key of a minute row: '*' = all events; 'country=US' = one value. */
export type DimKey = string;
export const ALL_DIMS: DimKey = '*';

/** Attributes that may be pre-aggregated (config `dimensions`, default ['country']): the
 * fields of the field table (core/event/fields.ts) that have a dimension tag. */
export type { Dimension } from '../event/fields.js';

/** An absolute count for one (minute, ad, dimension value): stored as an idempotent upsert. */
export interface MinuteRow {
  /** minute start, epoch ms, multiple of 60 000 */
  minute: number;
  adId: string;
  dim: DimKey;
  count: number;
}

export interface RankedAd {
  adId: string;
  count: number;
}

/** The book's most_clicked_ads: exact top N over the minutes [endMinute − windowMinutes·60 000, endMinute). */
export interface TopRow {
  windowMinutes: number;
  /** the list of the events with this dimension value (`country=US`); absent: every event */
  dim?: DimKey;
  /** end of the window (exclusive), epoch ms, multiple of 60 000 */
  endMinute: number;
  ads: RankedAd[];
}

/** An event that came beyond the allowed lateness: kept and reported, never counted silently. */
export interface LateEvent {
  partition: number;
  offset: number;
  event: ClickEvent;
  /** the pipeline watermark it arrived behind */
  watermark: number;
  /** wall-clock ms at which the aggregator read it (the `now` of its onRecords call) */
  arrivedAt: number;
}
