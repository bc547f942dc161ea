/**
 * Retention by rollup (AggregateRetention): one hour (or day) per IMMEDIATE transaction, which
 * sums its finer rows per (dim, ad_id) into the coarser table, deletes them, and moves the
 * position, so a count is always in exactly one table and a crash leaves either the hour
 * rolled or not. Stored top lists follow: a list whose window lies in a rolled hour goes with
 * it, unless its window is whole hours ending on an hour (then it goes with the day), since
 * the coarser rows still answer it exactly.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { RetentionPosition, RollupResult } from '../../ports/aggregate-retention.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type PositionFn = () => RetentionPosition;

export function preparePosition(db: Database.Database): PositionFn {
  const get = db.prepare(
    'SELECT minutes_from, hours_from FROM retention_state',
  ) as Database.Statement<[], { minutes_from: number | null; hours_from: number | null }>;
  return () => {
    const r = get.get();
    return {
      minutesFrom: r?.minutes_from ?? -Infinity,
      hoursFrom: r?.hours_from ?? -Infinity,
    };
  };
}

export function prepareRollup(
  db: Database.Database,
  guard: <T>(what: string, fn: () => T) => Promise<T>,
): (minutesBefore: number, hoursBefore: number) => Promise<RollupResult> {
  const position = preparePosition(db);
  const oldestMinute = db
    .prepare('SELECT min(minute) FROM minute_counts')
    .pluck() as Database.Statement<[], number | null>;
  const oldestHour = db.prepare('SELECT min(hour) FROM hour_counts').pluck() as Database.Statement<
    [],
    number | null
  >;
  const repairing = db
    .prepare(
      `SELECT count(*) FROM repair_runs
       WHERE status = 'running' AND from_minute < @hi AND to_minute > @lo`,
    )
    .pluck() as Database.Statement<[{ lo: number; hi: number }], number>;
  const sumHour = db.prepare(`
    INSERT INTO hour_counts (hour, dim, ad_id, count)
    SELECT @lo, dim, ad_id, SUM(count) FROM minute_counts
    WHERE minute >= @lo AND minute < @hi GROUP BY dim, ad_id
    ON CONFLICT (hour, dim, ad_id) DO UPDATE SET count = count + excluded.count`);
  const dropMinutes = db.prepare('DELETE FROM minute_counts WHERE minute >= @lo AND minute < @hi');
  const sumDay = db.prepare(`
    INSERT INTO day_counts (day, dim, ad_id, count)
    SELECT @lo, dim, ad_id, SUM(count) FROM hour_counts
    WHERE hour >= @lo AND hour < @hi GROUP BY dim, ad_id
    ON CONFLICT (day, dim, ad_id) DO UPDATE SET count = count + excluded.count`);
  const dropHours = db.prepare('DELETE FROM hour_counts WHERE hour >= @lo AND hour < @hi');
  // a list covers [end − window, end): it goes once that lies before the position, unless the
  // coarser rows answer it (whole hours ending on an hour; whole days ending on a day)
  const dropTopsBeforeHour = db.prepare(`
    DELETE FROM most_clicked_ads WHERE end_minute <= @hi
      AND NOT (window_minutes % 60 = 0 AND end_minute % 3600000 = 0)`);
  const dropTopsBeforeDay = db.prepare(`
    DELETE FROM most_clicked_ads WHERE end_minute <= @hi
      AND NOT (window_minutes % 1440 = 0 AND end_minute % 86400000 = 0)`);
  // positions only move forward
  const setMinutesFrom = db.prepare(
    'UPDATE retention_state SET minutes_from = max(coalesce(minutes_from, @to), @to)',
  );
  const setHoursFrom = db.prepare(
    'UPDATE retention_state SET hours_from = max(coalesce(hours_from, @to), @to)',
  );

  const rollHour = db.transaction((lo: number): number | undefined => {
    const hi = lo + HOUR_MS;
    if ((repairing.get({ lo, hi }) ?? 0) > 0) return undefined;
    sumHour.run({ lo, hi });
    const rows = dropMinutes.run({ lo, hi }).changes;
    dropTopsBeforeHour.run({ hi });
    setMinutesFrom.run({ to: hi });
    return rows;
  });
  const rollDay = db.transaction((lo: number): number => {
    const hi = lo + DAY_MS;
    sumDay.run({ lo, hi });
    const rows = dropHours.run({ lo, hi }).changes;
    dropTopsBeforeDay.run({ hi });
    setHoursFrom.run({ to: hi });
    return rows;
  });
  const moveMinutesFrom = db.transaction((to: number) => setMinutesFrom.run({ to }));
  const moveHoursFrom = db.transaction((to: number) => setHoursFrom.run({ to }));

  return async (minutesBefore, hoursBefore) => {
    const result: RollupResult = {
      hoursRolled: 0,
      daysRolled: 0,
      minuteRowsRolled: 0,
      hourRowsRolled: 0,
      position: await guard('rollup', position),
    };
    const mBefore = Math.floor(minutesBefore / HOUR_MS) * HOUR_MS;
    // days roll only what is already hourly
    const hBefore = Math.min(Math.floor(hoursBefore / DAY_MS) * DAY_MS, mBefore);
    if (Number.isFinite(mBefore)) {
      while (true) {
        const pos = await guard('rollup', position);
        const first = await guard('rollup', () => oldestMinute.get() ?? null);
        if (first === null || first >= mBefore) {
          // nothing left to roll below mBefore: the minute rows start there (or later)
          if (!(pos.minutesFrom >= mBefore))
            await guard('rollup', () => moveMinutesFrom.immediate(mBefore));
          break;
        }
        const lo = Math.floor(first / HOUR_MS) * HOUR_MS;
        const rows = await guard('rollup', () => rollHour.immediate(lo));
        if (rows === undefined) break; // a repair is running on it: next time
        result.hoursRolled++;
        result.minuteRowsRolled += rows;
        await yieldToLoop();
      }
    }
    if (Number.isFinite(hBefore)) {
      while (true) {
        const pos = await guard('rollup', position);
        const first = await guard('rollup', () => oldestHour.get() ?? null);
        if (first === null || first >= hBefore) {
          if (!(pos.hoursFrom >= hBefore))
            await guard('rollup', () => moveHoursFrom.immediate(hBefore));
          break;
        }
        const lo = Math.floor(first / DAY_MS) * DAY_MS;
        result.hourRowsRolled += await guard('rollup', () => rollDay.immediate(lo));
        result.daysRolled++;
        await yieldToLoop();
      }
    }
    result.position = await guard('rollup', position);
    return result;
  };
}
