/**
 * The distributed mode's two stores beside the aggregate database proper (SPEC §5):
 * - per-partition operator snapshots of the aggregator group, each with the position it
 *   reflects (the clicks offset, the partition's cycle number and where its cycles start in
 *   the aggregates queue), so that a process taking a partition over restores it and replays
 *   only the cycles committed after it;
 * - the database writer's commit: the aggregates queue's records applied to the aggregate
 *   database with the writer's offsets in the same transaction, and the per-partition top-N
 *   candidates merged into the global top N once every partition's watermark passed the end.
 */
import type { CycleStats, LateRecord, MinuteRow, TopRow } from './aggregates.js';

/** One partition's operator state as of a committed cycle. */
export interface PartitionSnapshot {
  partition: number;
  /** the next clicks offset to read: the state reflects every record before it */
  clicksOffset: number;
  /** the partition's cycle number the state reflects (cycles are numbered 1, 2, … per partition) */
  cycle: number;
  /** an offset of the aggregates queue partition at or before the record of cycle `cycle + 1` */
  aggregatesOffset: number;
  /** the partition's watermark (-Infinity: none) */
  watermark: number;
  /** the state, in chunks (stored as they are, in order) */
  chunks: readonly Uint8Array[];
}

export interface PartitionSnapshotStore {
  /** stores it unless a snapshot of a later cycle of the partition is stored already */
  saveSnapshot(s: PartitionSnapshot): Promise<void>;
  loadSnapshot(partition: number): Promise<PartitionSnapshot | undefined>;
}

/** One aggregator cycle of one partition as the writer applies it (rows come separately). */
export interface PartitionCycle {
  partition: number;
  cycle: number;
  /** clicks offsets the cycle consumed: [from, to) */
  from: number;
  to: number;
  /** the partition's watermark after the cycle */
  watermark: number;
  /** the partition's top lists (exact within the partition) that closed or changed */
  top: TopRow[];
  stats: CycleStats;
}

export interface WriterBatch {
  rows: MinuteRow[];
  late: LateRecord[];
  /** in queue order */
  cycles: PartitionCycle[];
  /**
   * the partitions' top lists per dimension value, in queue order (records of their own
   * before their cycle's: a cycle record with them would outgrow the broker's message limit)
   */
  candidates?: Array<{ partition: number; top: TopRow[] }>;
  /** next offset of the aggregates queue per partition after this batch */
  offsets: Map<number, number>;
  /** the writer's commit seq as it knows it: a second writer is fenced */
  expectedSeq: number;
  /** partitions of the clicks topic: the global watermark is the minimum over all of them */
  partitions: number;
  topN: number;
  /**
   * the aggregators' allowed lateness: a partition corrects a list only while its end +
   * the lateness is above its watermark, so candidates of ends at or below the global
   * watermark − the lateness are never merged again and are deleted (kept when absent)
   */
  allowedLatenessMs?: number;
}

export interface WriterPartitionState {
  partition: number;
  watermark: number;
  cycle: number;
  /** the clicks offset the partition's last applied cycle reached */
  clicksOffset: number;
}

export interface WriterState {
  seq: number;
  offsets: Map<number, number>;
  /** the global watermark (min over partitions; -Infinity until all reported) */
  watermark: number;
  partitions: WriterPartitionState[];
}

export interface WriterSink {
  /** one PostgreSQL transaction: rows, late records, candidates, global top lists, offsets */
  commitWriter(batch: WriterBatch): Promise<void>;
  writerState(): Promise<WriterState>;
}

/** the consumer name the writer's offsets and totals are stored under */
export const WRITER_CONSUMER = 'writer';
