/**
 * The reconciliation job's side of the aggregate database: it reads what the streaming
 * aggregator stored, and writes corrections with their audit trail. Not `commit`: a repair is
 * not a consumer cycle, it moves no offsets and no seq. A repair touches only minutes that the
 * committed watermark has made final (minute end + allowed lateness ≤ watermark): the
 * aggregator never emits those again, so it can never undo a repair.
 */
import type { DimKey, LateRecord, MinuteRow, RankedAd, TopRow } from './aggregates.js';

/** Why a repair changed a value (kept in the audit trail). */
export type RepairReason = 'late events' | 'store mismatch';

/** One minute row as the recount has it against what the store held (0: no row). */
export interface RowChange {
  minute: number;
  dim: DimKey;
  adId: string;
  oldCount: number;
  newCount: number;
  reason: RepairReason;
}

/** One most-clicked list (undefined: no list stored / none recounted). */
export interface TopChange {
  windowMinutes: number;
  endMinute: number;
  /** the list of one dimension value (`country=US`); absent: of every event */
  dim?: DimKey;
  oldAds: RankedAd[] | undefined;
  newAds: RankedAd[] | undefined;
}

export interface RepairRun {
  runId: number;
  startedAt: number;
  finishedAt: number | undefined;
  status: 'running' | 'done' | 'interrupted';
  fromMinute: number;
  toMinute: number;
  rowsChanged: number;
  topsChanged: number;
  lateFolded: number;
  note: string;
}

/** An audited change, as `tally repairs` lists it. */
export interface AuditedChange extends RowChange {
  runId: number;
  changedAt: number;
}

/**
 * The aggregator's commit this repair was planned against: a repair is refused when the
 * consumer committed since (its rows may have moved).
 */
export interface RepairFence {
  consumer: string;
  seq: number;
}

export interface AggregateRepair {
  /** every stored row of one minute, all dimension values, by (dim, ad_id) */
  minuteRows(minute: number): Promise<MinuteRow[]>;
  /** every stored most-clicked list ('*' and per dimension value) whose window ends in (fromEnd, toEnd] */
  topRows(fromEnd: number, toEnd: number): Promise<TopRow[]>;
  /** the late records whose event time is in [fromTime, toTime) */
  lateBetween(fromTime: number, toTime: number): Promise<LateRecord[]>;
  /**
   * Opens an audited run over [fromMinute, toMinute). A run a crash left 'running' is marked
   * 'interrupted' first (what it committed stays, with its audit rows).
   */
  beginRepair(run: RepairRunStart): Promise<number>;
  /**
   * Writes corrected rows (absolute counts; 0 deletes the row) and lists, and their audit rows,
   * in ONE transaction; refused (TALLY_STORE_FAILURE, details.reason 'fenced') if the fence's
   * consumer committed since.
   */
  applyRepair(batch: RepairBatch): Promise<void>;
  /**
   * Closes the run: marks the late records of [fromTime, toTime) as recounted by it, and its
   * status 'done', in one transaction.
   */
  finishRepair(runId: number, done: RepairDone): Promise<RepairRun>;
  /** the newest runs first */
  repairRuns(limit: number): Promise<RepairRun[]>;
  /** audited row changes, oldest first; of one run when given */
  repairChanges(limit: number, runId?: number): Promise<AuditedChange[]>;
}

/** What opens an audited repair run over [fromMinute, toMinute). */
export interface RepairRunStart {
  fromMinute: number;
  toMinute: number;
  startedAt: number;
  note: string;
}

/** One transaction of a repair run: corrected rows and lists, fenced. */
export interface RepairBatch {
  runId: number;
  rows: RowChange[];
  tops: TopChange[];
  at: number;
  fence: RepairFence;
}

/** What closes a repair run. */
export interface RepairDone {
  finishedAt: number;
  lateFromTime: number;
  lateToTime: number;
}
