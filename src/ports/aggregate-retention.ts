/**
 * Retention of the aggregates: per-minute rows are kept for a period (billing), then rolled
 * up, exactly, into hourly rows, and those later into daily rows. A rollup of an hour sums its
 * minute rows per (dim, ad_id), writes the hour rows and deletes the minute rows in ONE
 * transaction, so every count is in exactly one of the three tables at any time; queries
 * (AggregateReader) read whichever holds a range and answer the same sums.
 */

/** Where the resolutions meet; −Infinity: nothing rolled up yet. */
export interface RetentionPosition {
  /** minute rows exist from here on; [hoursFrom, minutesFrom) is in hourly rows */
  minutesFrom: number;
  /** before this, daily rows (a multiple of a day) */
  hoursFrom: number;
}

export interface RollupResult {
  hoursRolled: number;
  daysRolled: number;
  minuteRowsRolled: number;
  hourRowsRolled: number;
  position: RetentionPosition;
}

export interface AggregateRetention {
  retentionPosition(): Promise<RetentionPosition>;
  /**
   * Rolls every complete hour before `minutesBefore` (a multiple of an hour) into hourly rows
   * and every complete day before `hoursBefore` (a multiple of a day, ≤ minutesBefore) into
   * daily rows, one hour or day per transaction, oldest first. Never moves a position back.
   * An hour inside a running repair is left for later.
   */
  rollUp(minutesBefore: number, hoursBefore: number): Promise<RollupResult>;
}
