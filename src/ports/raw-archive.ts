/**
 * The cold archive of raw events (the book keeps raw data, older data in columnar storage):
 * closed ranges of the raw log become Parquet files, partitioned by event date and hour, with
 * a manifest of the (partition, offset range) each covers. Three small ports:
 *
 * - RawSource: where the archiver reads closed ranges. The embedded log: its sealed segments;
 *   the distributed mode: ranges of the raw topic `<ns>.clicks` below its last stable offset.
 * - RawArchive: the archive's writer side (idempotent, all or nothing per range).
 * - RawEvents: the read side: exact counts on raw attributes and the replay that
 *   reconciliation recounts from, over the archive plus the not-yet-archived tail of the log.
 */
import type { Dimension, RankedAd } from '../core/aggregate/types.js';
import type { ReadResult } from './event-log.js';

/** Records [fromOffset, toOffset) of one partition. */
export interface OffsetRange {
  partition: number;
  fromOffset: number;
  toOffset: number;
}

/** A closed range: complete and never written again. */
export interface ClosedRange extends OffsetRange {
  /** bytes it takes in the log (for the retention's byte budget) */
  bytes: number;
  /** wall-clock ms of its last write (for the retention's age rule) */
  lastWriteTime: number;
}

/** Reads records of one partition (EventLog.read bound to it). */
export type RangeReader = (fromOffset: number, maxRecords: number) => Promise<ReadResult>;

export interface RawSource {
  readonly partitions: number;
  /** the closed ranges of `partition` that hold records at or after `fromOffset`, ascending */
  closedRanges(partition: number, fromOffset: number): Promise<ClosedRange[]>;
  read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult>;
  startOffset(partition: number): number;
  endOffset(partition: number): number;
}

/** What retention may drop from the source once nothing needs it any more. */
export interface RawRetention {
  /**
   * Drops whole closed ranges of `partition` that lie below `offset`; returns the new lowest
   * readable offset and the bytes freed.
   */
  releaseBefore(partition: number, offset: number): Promise<{ startOffset: number; bytes: number }>;
  /** bytes the source holds, all partitions */
  bytes(): number;
}

/** One Parquet file of the archive: events of one partition range within one event hour. */
export interface ArchiveFile {
  /** relative to the archive root: `date=YYYY-MM-DD/hour=HH/p007-<from>-<to>.parquet` */
  path: string;
  date: string;
  hour: number;
  rows: number;
  bytes: number;
}

/** A range as the manifest records it. */
export interface ArchivedRange extends OffsetRange {
  records: number;
  files: ArchiveFile[];
  /** smallest and largest event time in it, epoch ms (NaN for an empty range) */
  minTime: number;
  maxTime: number;
  archivedAt: number;
}

export interface RawArchive {
  /** per partition: every record below this offset is in the archive (0: nothing yet) */
  archivedUpTo(partition: number): number;
  /** every range in the manifest, by partition then offset */
  ranges(): readonly ArchivedRange[];
  /**
   * Archives one closed range, read through `read`: the files are written under temporary
   * names, fsynced and renamed, then the range is appended to the manifest (fsynced): all or
   * nothing. A range already in the manifest is returned as recorded; the range must start at
   * archivedUpTo(partition).
   */
  archive(range: OffsetRange, read: RangeReader): Promise<ArchivedRange>;
}

/** An exact raw-attribute filter: every attribute must hold one of its values. */
export type RawFilter = ReadonlyMap<Dimension, readonly string[]>;

/** The not-yet-archived records of the log: read them from here. */
export interface RawTail {
  ranges: readonly OffsetRange[];
  read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult>;
}

/**
 * An exact count over raw events. `fromMinute`/`toMinute` are minute starts: the events of
 * minutes fromMinute ≤ m < toMinute count. Dedup is the reconciled rule (docs/architecture.md,
 * "Reconciled counts"): per dedup key, in (event time, partition, offset) order, the first
 * event counts, and a later one counts again only once its minute starts at least
 * `dedupHorizonMs` after the last counted one; the events of the `historyMs` before
 * `fromMinute` are read to know what was already counted.
 */
export interface RawQuery {
  fromMinute: number;
  toMinute: number;
  adId?: string | undefined;
  filter: RawFilter;
  dedupHorizonMs: number;
  historyMs: number;
}

/** One minute of replayed records: framed binary records, per partition, in replay order. */
export interface ReplayMinute {
  minute: number;
  batches: Array<{ partition: number; data: Uint8Array; count: number }>;
}

export interface RawEvents {
  count(q: RawQuery, tail: RawTail): Promise<number>;
  timeseries(q: RawQuery, tail: RawTail): Promise<Array<{ minute: number; count: number }>>;
  top(q: RawQuery, n: number, tail: RawTail): Promise<RankedAd[]>;
  /**
   * Every event with event time in [fromTime, toTime), archive and tail, minute by minute in
   * (event time, partition, offset) order, as binary records the aggregator reads (with only
   * the fields it counts by: `dimensions`). `onMinute` is awaited before the next minute.
   * Returns the number of events replayed.
   */
  replay(
    fromTime: number,
    toTime: number,
    tail: RawTail,
    dimensions: readonly Dimension[],
    onMinute: (m: ReplayMinute) => Promise<void> | void,
  ): Promise<number>;
}
