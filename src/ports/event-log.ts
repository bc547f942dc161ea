/**
 * The first queue of the book: raw click events, partitioned by ad_id, durable before an
 * append resolves. Records are opaque bytes here: the binary record format is the core's
 * (core/event/codec); an adapter only frames, stores and moves them.
 */

/** Encoded records for one partition: `data` is the concatenation of `count` framed records. */
export interface PartitionAppend {
  partition: number;
  data: Uint8Array;
  count: number;
}

export interface AppendResult {
  /** per partition in the request: the offset given to its first record */
  baseOffsets: Map<number, number>;
}

export interface ReadResult {
  /** concatenated framed records, whole records only, in offset order */
  data: Uint8Array;
  count: number;
  /** offset of the first record in `data` */
  fromOffset: number;
  /**
   * The offset to read next: fromOffset + count where offsets have no gaps (the embedded log);
   * past transaction markers and aborted records on a broker, so it can be larger, and a read
   * can return no record yet move on. Readers advance by it and stop at the end offset, never
   * on count 0 alone.
   */
  nextOffset: number;
  /** wall-clock ms at which the newest record in `data` was appended (for latency metrics) */
  lastAppendTime: number;
}

export interface EventLog {
  readonly partitions: number;
  /**
   * Appends; resolves once the records are durable under the configured policy
   * (fsync by default). Concurrent calls are group-committed.
   */
  append(batches: PartitionAppend[]): Promise<AppendResult>;
  /**
   * Reads the records at offsets [fromOffset, fromOffset + maxRecords) (at most maxRecords; fewer
   * where a log's offsets have gaps); an empty result at the end.
   */
  read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult>;
  /**
   * The offset the next appended record of this partition will get, as known here: exact for
   * a log this process alone writes; a shared log (a broker) learns others' appends by
   * `refresh`.
   */
  endOffset(partition: number): number;
  /**
   * Optional: asks the storage where every partition ends now, so that `endOffset` includes
   * the appends of other writers. A log this process alone writes omits it.
   */
  refresh?(): Promise<void>;
  /** The lowest offset still readable (raw segments are kept until archived). */
  startOffset(partition: number): number;
  /**
   * After a storage error (TALLY_STORAGE_FULL / TALLY_STORAGE_FAILED) stopped appends: repairs
   * what the failed write left and checks that the storage takes writes again; rejects with
   * the storage error while it does not, resolves at once when appends are not stopped.
   * Optional: an adapter whose failed writes leave nothing to repair (a broker) omits it.
   */
  probe?(): Promise<void>;
  close(): Promise<void>;
}
