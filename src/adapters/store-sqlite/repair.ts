/**
 * AggregateRepair over SQLite: reads for the reconciliation diff, and the repair writes with
 * their audit trail (tables of migration 2: repair_runs, repair_changes, repair_top_changes,
 * late_folded). Each applyRepair is one IMMEDIATE transaction: rows, lists and audit rows land
 * together or not at all, so a kill -9 mid-repair leaves whole chunks, each audited.
 */
import type Database from 'better-sqlite3';
import { TallyError } from '../../core/errors.js';
import type {
  AuditedChange,
  RepairReason,
  RepairRun,
  RepairBatch,
  RepairDone,
  RepairRunStart,
} from '../../ports/aggregate-repair.js';
import { ALL_DIMS } from '../../core/aggregate/types.js';
import type { LateRecord, MinuteRow, TopRow } from '../../ports/aggregates.js';
import { decodeLateRow, decodeRanked, encodeRanked, type LateEventRow } from './codec.js';
import { preparePosition } from './rollup.js';

export interface RepairStatements {
  minuteRows(minute: number): MinuteRow[];
  topRows(fromEnd: number, toEnd: number): TopRow[];
  lateBetween(fromTime: number, toTime: number): LateRecord[];
  beginRepair(run: RepairRunStart): number;
  applyRepair(batch: RepairBatch): void;
  finishRepair(runId: number, done: RepairDone): RepairRun;
  repairRuns(limit: number): RepairRun[];
  repairChanges(limit: number, runId?: number): AuditedChange[];
}

interface RunRow {
  run_id: number;
  started_at: number;
  finished_at: number | null;
  status: RepairRun['status'];
  from_minute: number;
  to_minute: number;
  rows_changed: number;
  tops_changed: number;
  late_folded: number;
  note: string;
}

const toRun = (r: RunRow): RepairRun => ({
  runId: r.run_id,
  startedAt: r.started_at,
  finishedAt: r.finished_at ?? undefined,
  status: r.status,
  fromMinute: r.from_minute,
  toMinute: r.to_minute,
  rowsChanged: r.rows_changed,
  topsChanged: r.tops_changed,
  lateFolded: r.late_folded,
  note: r.note,
});

export function prepareRepair(db: Database.Database): RepairStatements {
  const minuteRows = db.prepare(
    'SELECT minute, ad_id AS adId, dim, count FROM minute_counts WHERE minute = ? ORDER BY dim, ad_id',
  ) as Database.Statement<[number], MinuteRow>;
  const topRows = db.prepare(
    `SELECT window_minutes, end_minute, dim, ads FROM most_clicked_ads
     WHERE end_minute > ? AND end_minute <= ? ORDER BY end_minute, window_minutes, dim`,
  ) as Database.Statement<
    [number, number],
    { window_minutes: number; end_minute: number; dim: string; ads: string }
  >;
  const lateBetween = db.prepare(
    `SELECT partition_id, log_offset, ad_id, event_time, event_id, watermark, raw, arrived_at
     FROM late_events WHERE event_time >= ? AND event_time < ? ORDER BY partition_id, log_offset`,
  ) as Database.Statement<[number, number], LateEventRow>;
  const interruptRunning = db.prepare(
    "UPDATE repair_runs SET status = 'interrupted' WHERE status = 'running'",
  );
  const insertRun = db.prepare(
    `INSERT INTO repair_runs (started_at, status, from_minute, to_minute, note)
     VALUES (?, 'running', ?, ?, ?)`,
  );
  const seqOf = db
    .prepare('SELECT seq FROM consumer_state WHERE consumer = ?')
    .pluck() as Database.Statement<[string], number>;
  const upsertRow = db.prepare(`
    INSERT INTO minute_counts (minute, dim, ad_id, count) VALUES (?, ?, ?, ?)
    ON CONFLICT (minute, dim, ad_id) DO UPDATE SET count = excluded.count`);
  const deleteRow = db.prepare(
    'DELETE FROM minute_counts WHERE minute = ? AND dim = ? AND ad_id = ?',
  );
  const upsertTop = db.prepare(`
    INSERT INTO most_clicked_ads (window_minutes, end_minute, dim, ads) VALUES (?, ?, ?, ?)
    ON CONFLICT (window_minutes, end_minute, dim) DO UPDATE SET ads = excluded.ads`);
  const deleteTop = db.prepare(
    'DELETE FROM most_clicked_ads WHERE window_minutes = ? AND end_minute = ? AND dim = ?',
  );
  // a chunk re-applied after a crash of the run that wrote it is a new run: no conflict
  const auditRow = db.prepare(`
    INSERT INTO repair_changes (run_id, minute, dim, ad_id, old_count, new_count, reason, changed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, minute, dim, ad_id) DO UPDATE SET
      new_count = excluded.new_count, reason = excluded.reason, changed_at = excluded.changed_at`);
  const auditTop = db.prepare(`
    INSERT INTO repair_top_changes
      (run_id, window_minutes, end_minute, dim, old_ads, new_ads, changed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (run_id, window_minutes, end_minute, dim) DO UPDATE SET
      new_ads = excluded.new_ads, changed_at = excluded.changed_at`);
  const countRun = db.prepare(
    'UPDATE repair_runs SET rows_changed = rows_changed + ?, tops_changed = tops_changed + ? WHERE run_id = ?',
  );
  const foldLate = db.prepare(`
    INSERT INTO late_folded (partition_id, log_offset, run_id)
    SELECT partition_id, log_offset, @run FROM late_events
    WHERE event_time >= @from AND event_time < @to
    ON CONFLICT (partition_id, log_offset) DO UPDATE SET run_id = excluded.run_id`);
  const finishRun = db.prepare(
    "UPDATE repair_runs SET status = 'done', finished_at = ?, late_folded = ? WHERE run_id = ?",
  );
  const runById = db.prepare('SELECT * FROM repair_runs WHERE run_id = ?') as Database.Statement<
    [number],
    RunRow
  >;
  const runs = db.prepare(
    'SELECT * FROM repair_runs ORDER BY run_id DESC LIMIT ?',
  ) as Database.Statement<[number], RunRow>;
  const changesSql = (oneRun: boolean) => `
    SELECT run_id, minute, dim, ad_id, old_count, new_count, reason, changed_at FROM repair_changes
    ${oneRun ? 'WHERE run_id = @run' : ''} ORDER BY run_id, minute, dim, ad_id LIMIT @limit`;
  type ChangeRow = {
    run_id: number;
    minute: number;
    dim: string;
    ad_id: string;
    old_count: number;
    new_count: number;
    reason: string;
    changed_at: number;
  };
  const changesAll = db.prepare(changesSql(false)) as Database.Statement<
    [{ limit: number }],
    ChangeRow
  >;
  const changesOf = db.prepare(changesSql(true)) as Database.Statement<
    [{ run: number; limit: number }],
    ChangeRow
  >;

  const position = preparePosition(db);
  const begin = db.transaction((run: Parameters<RepairStatements['beginRepair']>[0]) => {
    interruptRunning.run();
    return Number(
      insertRun.run(run.startedAt, run.fromMinute, run.toMinute, run.note).lastInsertRowid,
    );
  });

  const apply = db.transaction((b: Parameters<RepairStatements['applyRepair']>[0]) => {
    const stored = seqOf.get(b.fence.consumer) ?? 0;
    if (stored !== b.fence.seq) {
      throw new TallyError(
        'TALLY_STORE_FAILURE',
        `repair refused: ${b.fence.consumer} committed since the recount was planned (seq ${b.fence.seq} → ${stored})`,
        { details: { reason: 'fenced', expectedSeq: b.fence.seq, storedSeq: stored } },
      );
    }
    // minute rows before the retention position were rolled up: a repair there would write
    // rows no query reads (the reconciler refuses such ranges before it starts)
    const minutesFrom = position().minutesFrom;
    for (const r of b.rows)
      if (r.minute < minutesFrom)
        throw new TallyError(
          'TALLY_BAD_PARAMETER',
          `repair refused: minute ${new Date(r.minute).toISOString()} was rolled up to hourly totals`,
          { field: 'from' },
        );
    for (const r of b.rows) {
      if (r.newCount > 0) upsertRow.run(r.minute, r.dim, r.adId, r.newCount);
      else deleteRow.run(r.minute, r.dim, r.adId);
      auditRow.run(b.runId, r.minute, r.dim, r.adId, r.oldCount, r.newCount, r.reason, b.at);
    }
    for (const t of b.tops) {
      const dim = t.dim ?? ALL_DIMS;
      if (t.newAds === undefined) deleteTop.run(t.windowMinutes, t.endMinute, dim);
      else upsertTop.run(t.windowMinutes, t.endMinute, dim, encodeRanked(t.newAds));
      auditTop.run(
        b.runId,
        t.windowMinutes,
        t.endMinute,
        dim,
        t.oldAds === undefined ? null : encodeRanked(t.oldAds),
        t.newAds === undefined ? null : encodeRanked(t.newAds),
        b.at,
      );
    }
    countRun.run(b.rows.length, b.tops.length, b.runId);
  });

  const finish = db.transaction(
    (runId: number, d: Parameters<RepairStatements['finishRepair']>[1]) => {
      const folded = foldLate.run({ run: runId, from: d.lateFromTime, to: d.lateToTime }).changes;
      finishRun.run(d.finishedAt, folded, runId);
      const row = runById.get(runId);
      if (row === undefined) throw new Error(`repair run ${runId} vanished`);
      return toRun(row);
    },
  );

  return {
    minuteRows: (minute) => minuteRows.all(minute),
    topRows: (fromEnd, toEnd) =>
      topRows.all(fromEnd, toEnd).map((r) => {
        const t: TopRow = {
          windowMinutes: r.window_minutes,
          endMinute: r.end_minute,
          ads: decodeRanked(r.ads),
        };
        if (r.dim !== ALL_DIMS) t.dim = r.dim;
        return t;
      }),
    lateBetween: (fromTime, toTime) => lateBetween.all(fromTime, toTime).map(decodeLateRow),
    beginRepair: (run) => begin.immediate(run),
    applyRepair: (batch) => apply.immediate(batch),
    finishRepair: (runId, done) => finish.immediate(runId, done),
    repairRuns: (limit) => runs.all(Math.max(0, Math.floor(limit))).map(toRun),
    repairChanges: (limit, runId) => {
      const n = Math.max(0, Math.floor(limit));
      const rows =
        runId === undefined
          ? changesAll.all({ limit: n })
          : changesOf.all({ run: runId, limit: n });
      return rows.map((r) => ({
        runId: r.run_id,
        minute: r.minute,
        dim: r.dim,
        adId: r.ad_id,
        oldCount: r.old_count,
        newCount: r.new_count,
        reason: r.reason as RepairReason,
        changedAt: r.changed_at,
      }));
    },
  };
}
