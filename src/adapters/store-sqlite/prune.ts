/**
 * Retention. Deletes one minute per transaction and yields between them: a long prune never
 * holds the write lock (or the event loop) for more than one minute's rows.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';

export interface PruneResult {
  /** minute rows deleted */
  rows: number;
  /** most-clicked lists deleted */
  topRows: number;
}

export function preparePrune(
  db: Database.Database,
  guard: <T>(what: string, fn: () => T) => Promise<T>,
): (before: number) => Promise<PruneResult> {
  const oldest = db.prepare('SELECT min(minute) FROM minute_counts').pluck() as Database.Statement<
    [],
    number | null
  >;
  const deleteMinute = db.prepare('DELETE FROM minute_counts WHERE minute = ?');
  const deleteTop = db.prepare('DELETE FROM most_clicked_ads WHERE end_minute <= ?');
  const deleteOneMinute = db.transaction((minute: number) => deleteMinute.run(minute).changes);

  return async (before) => {
    let rows = 0;
    while (true) {
      const minute = await guard('prune', () => oldest.get() ?? null);
      if (minute === null || !(minute < before)) break;
      rows += await guard('prune', () => deleteOneMinute.immediate(minute));
      await yieldToLoop();
    }
    const topRows = await guard('prune', () => deleteTop.run(before).changes);
    return { rows, topRows };
  };
}
