import { mkdir, open, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TallyError } from '../../core/errors.js';
import { storageError } from '../fs/storage-error.js';
import type { AppendResult, EventLog, PartitionAppend, ReadResult } from '../../ports/event-log.js';
import { MAX_BATCH_PAYLOAD_BYTES, encodeBatchHeader, BATCH_HEADER_BYTES } from './batch-header.js';
import { crc32 } from './crc32.js';
import { acquireDirLock, type DirLock } from '../fs/dir-lock.js';
import { loadOrCreateMeta } from './dir-meta.js';
import { fsyncDir, realAppendIo, type AppendIo } from './fs-durable.js';
import { GroupCommitQueue } from './group-commit.js';
import type { Partition } from './partition.js';
import { recoverPartition } from './partition-recovery.js';
import { readPartition } from './partition-reader.js';
import { writePartitionGroup, type PendingBatch } from './partition-writer.js';
import { countFramedRecords } from './record-framing.js';
import {
  silentLogger,
  type Durability,
  type EmbeddedLogOptions,
  type LogDamage,
  type LogLogger,
  type PartitionStats,
  type RecoveryReport,
  type SealedSegment,
} from './types.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** the probe's test write: about one request's batch */
const PROBE_BYTES = 1024 * 1024;
const PROBE_FILE = '.probe';
const MIN_SEGMENT_BYTES = 1024;
const MAX_PARTITIONS = 4096;

/** The embedded durable partitioned log: the EventLog port plus what status and archiving need. */
export interface EmbeddedLog extends EventLog {
  readonly dir: string;
  readonly durability: Durability;
  /** what opening found and repaired (torn tails) or refused (corrupt batches) */
  recoveryReport(): RecoveryReport;
  /**
   * Removes the sealed segments whose every record is below `offset` (never the active one),
   * for an archive step; startOffset moves up to the first kept segment.
   */
  deleteSegmentsBefore(
    partition: number,
    offset: number,
  ): Promise<{ deleted: string[]; startOffset: number }>;
  /**
   * The sealed segments of a partition, oldest first: [fromOffset, toOffset) each, never
   * written again (the active segment is not among them). What the archiver archives.
   */
  sealedSegments(partition: number): SealedSegment[];
  /** endOffset of every partition, by partition number */
  endOffsets(): number[];
  /**
   * While a failed write has stopped appends: repairs the log (cuts torn tails, gives back
   * the failed offsets) and checks that the disk takes a write of `bytes` again; rejects with
   * the storage error while it does not. Resolves at once when appends are not stopped.
   */
  probe(bytes?: number): Promise<void>;
  /** the storage error that stopped appends, until a repair succeeds */
  readonly failure: TallyError | undefined;
  /** bytes of segment files on disk, all partitions */
  bytesOnDisk(): number;
  partitionStats(): PartitionStats[];
}

/**
 * Opens (or creates) the log in `opts.dir`. A torn tail left by a crash is cut off and
 * reported; see recoveryReport().
 */
export async function openEmbeddedLog(opts: EmbeddedLogOptions): Promise<EmbeddedLog> {
  const settings = validateOptions(opts);
  const logger = opts.logger ?? silentLogger;
  if ((await mkdir(opts.dir, { recursive: true })) !== undefined) {
    await fsyncDir(dirname(opts.dir));
  }
  const lock = await acquireDirLock(opts.dir);
  try {
    const meta = await loadOrCreateMeta(opts.dir, opts.partitions, new Date());
    const recovered = await Promise.all(
      Array.from({ length: meta.partitions }, (_, id) => recoverPartition(opts.dir, id, logger)),
    );
    const log = new EmbeddedLogImpl(
      opts.dir,
      recovered.map((r) => r.partition),
      recovered.flatMap((r) => r.damage),
      { ...settings, logger, lock },
    );
    logger.info(
      { dir: opts.dir, partitions: meta.partitions, endOffsets: log.endOffsets() },
      'log: opened',
    );
    return log;
  } catch (e) {
    await lock.release();
    throw e;
  }
}

interface Settings {
  durability: Durability;
  segmentBytes: number;
  io: AppendIo;
}

function validateOptions(opts: EmbeddedLogOptions): Settings {
  const bad = (field: string, why: string): TallyError =>
    new TallyError('TALLY_CONFIG_INVALID', `embedded log: ${field} ${why}`, { field });
  if (typeof opts.dir !== 'string' || opts.dir === '') throw bad('dir', 'must be a path');
  const { partitions, durability = 'fsync', segmentBytes = DEFAULT_SEGMENT_BYTES } = opts;
  if (
    partitions !== undefined &&
    (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS)
  ) {
    throw bad('partitions', `must be an integer from 1 to ${MAX_PARTITIONS}`);
  }
  if (durability !== 'fsync' && durability !== 'none')
    throw bad('durability', "must be 'fsync' or 'none'");
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES) {
    throw bad('segmentBytes', `must be an integer ≥ ${MIN_SEGMENT_BYTES}`);
  }
  return { durability, segmentBytes, io: opts.io ?? realAppendIo };
}

class EmbeddedLogImpl implements EmbeddedLog {
  readonly partitions: number;
  readonly durability: Durability;
  private readonly segmentBytes: number;
  private readonly io: AppendIo;
  private readonly logger: LogLogger;
  private readonly lock: DirLock;
  private readonly queue: GroupCommitQueue<PendingBatch[]>;
  private readonly reads = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;
  private failed: TallyError | undefined;
  private repairing: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly parts: Partition[],
    private readonly damage: LogDamage[],
    opts: Settings & { logger: LogLogger; lock: DirLock },
  ) {
    this.partitions = parts.length;
    this.durability = opts.durability;
    this.segmentBytes = opts.segmentBytes;
    this.io = opts.io;
    this.logger = opts.logger;
    this.lock = opts.lock;
    this.queue = new GroupCommitQueue((groups) => this.flush(groups));
  }

  get failure(): TallyError | undefined {
    return this.failed;
  }

  async append(batches: PartitionAppend[]): Promise<AppendResult> {
    this.assertOpen();
    for (const b of batches) this.validateAppend(b);
    // after a failed write, the next append repairs first (or fails with the storage error)
    if (this.failed !== undefined) await this.repair();
    // offsets are handed out now, in call order, so they are gap-free whatever the flushes do
    const appendTime = Date.now();
    const baseOffsets = new Map<number, number>();
    const pending: PendingBatch[] = [];
    for (const b of batches) {
      const p = this.parts[b.partition] as Partition;
      if (!baseOffsets.has(b.partition)) baseOffsets.set(b.partition, p.nextOffset);
      if (b.count === 0) continue;
      const header = encodeBatchHeader({
        baseOffset: p.nextOffset,
        recordCount: b.count,
        payloadBytes: b.data.byteLength,
        appendTime,
        payloadCrc: crc32(b.data),
      });
      pending.push({
        partition: b.partition,
        baseOffset: p.nextOffset,
        count: b.count,
        header,
        payload: b.data,
        bytes: BATCH_HEADER_BYTES + b.data.byteLength,
      });
      p.nextOffset += b.count;
    }
    if (pending.length > 0) await this.queue.submit(pending);
    return { baseOffsets };
  }

  read(partition: number, fromOffset: number, maxRecords: number): Promise<ReadResult> {
    const r = this.readChecked(partition, fromOffset, maxRecords);
    // close() waits for reads in flight before it closes their files
    this.reads.add(r);
    void r.finally(() => this.reads.delete(r)).catch(() => {});
    return r;
  }

  private async readChecked(
    partition: number,
    fromOffset: number,
    maxRecords: number,
  ): Promise<ReadResult> {
    this.assertOpen();
    const p = this.partition(partition);
    if (!Number.isSafeInteger(fromOffset) || fromOffset < 0) {
      throw new TallyError('TALLY_BAD_PARAMETER', `offset ${fromOffset} is not a valid offset`, {
        field: 'offset',
        details: { partition, offset: fromOffset },
      });
    }
    if (fromOffset < p.startOffset) {
      throw new TallyError(
        'TALLY_OFFSET_ARCHIVED',
        `offset ${fromOffset} of partition ${partition} is no longer in the log: retention removed the segments below ${p.startOffset} once they were archived (read them from the Parquet archive)`,
        { field: 'offset', details: { partition, offset: fromOffset, startOffset: p.startOffset } },
      );
    }
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      throw new TallyError('TALLY_BAD_PARAMETER', 'maxRecords must be a positive integer', {
        field: 'maxRecords',
      });
    }
    try {
      return await readPartition(p, fromOffset, maxRecords);
    } catch (e) {
      throw storageError(`log: read of partition ${partition}`, p.dir, e);
    }
  }

  /**
   * The readable end: every record below it is durable and readable. It is the offset the
   * next append gets once the appends in flight are durable.
   */
  endOffset(partition: number): number {
    return this.partition(partition).durableEnd;
  }

  startOffset(partition: number): number {
    return this.partition(partition).startOffset;
  }

  async deleteSegmentsBefore(
    partition: number,
    offset: number,
  ): Promise<{ deleted: string[]; startOffset: number }> {
    this.assertOpen();
    const p = this.partition(partition);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new TallyError('TALLY_BAD_PARAMETER', `offset ${offset} is not a valid offset`, {
        field: 'offset',
      });
    }
    const deleted = await p.deleteSegmentsBefore(offset, this.durability === 'fsync');
    if (deleted.length > 0) {
      this.logger.info({ partition, deleted, startOffset: p.startOffset }, 'log: segments deleted');
    }
    return { deleted, startOffset: p.startOffset };
  }

  sealedSegments(partition: number): SealedSegment[] {
    const p = this.partition(partition);
    return p.segments.slice(0, -1).map((seg) => ({
      partition,
      fromOffset: seg.baseOffset,
      toOffset: seg.endOffset,
      bytes: seg.size,
      name: seg.name,
      path: seg.path,
    }));
  }

  recoveryReport(): RecoveryReport {
    return { damage: this.damage.map((d) => ({ ...d })) };
  }

  endOffsets(): number[] {
    return this.parts.map((p) => p.durableEnd);
  }

  bytesOnDisk(): number {
    return this.parts.reduce((n, p) => n + p.bytes(), 0);
  }

  partitionStats(): PartitionStats[] {
    return this.parts.map((p) => ({
      partition: p.id,
      startOffset: p.startOffset,
      endOffset: p.durableEnd,
      segments: p.segments.length,
      bytes: p.bytes(),
    }));
  }

  async probe(bytes = PROBE_BYTES): Promise<void> {
    this.assertOpen();
    if (this.failed === undefined) return;
    await this.repair();
    // the repair frees the torn bytes, so it succeeds on a full disk: a write of a batch's
    // size says whether appends would
    const path = join(this.dir, PROBE_FILE);
    try {
      const fh = await open(path, 'w');
      try {
        await this.io.write(fh, [new Uint8Array(bytes)], 0);
        if (this.durability === 'fsync') await this.io.sync(fh);
      } finally {
        await fh.close();
      }
    } catch (e) {
      this.failed = storageError('log: probe write', path, e);
      throw this.failed;
    } finally {
      await rm(path, { force: true }).catch(() => undefined);
    }
  }

  /**
   * Undoes what a failed flush left (partition.repairAfterFailedWrite) and lets appends in
   * again; one repair at a time, shared by every caller that finds the log stopped.
   */
  private repair(): Promise<void> {
    this.repairing ??= (async () => {
      try {
        await this.queue.drain();
        const cut: Record<number, number> = {};
        for (const p of this.parts) {
          const bytes = await p.repairAfterFailedWrite(this.durability === 'fsync');
          if (bytes > 0) cut[p.id] = bytes;
        }
        this.queue.reset();
        const was = this.failed;
        this.failed = undefined;
        this.logger.info(
          { dir: this.dir, bytesCut: cut, endOffsets: this.endOffsets(), after: was?.code },
          'log: repaired after a failed write; appends resume',
        );
      } catch (e) {
        this.failed = storageError('log: repair after a failed write', this.dir, e);
        throw this.failed;
      } finally {
        this.repairing = undefined;
      }
    })();
    return this.repairing;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    await this.queue.drain();
    await Promise.allSettled([...this.reads]);
    for (const p of this.parts) await p.close();
    await this.lock.release();
  }

  private async flush(groups: PendingBatch[][]): Promise<void> {
    const byPartition = new Map<number, PendingBatch[]>();
    for (const group of groups) {
      for (const b of group) {
        const list = byPartition.get(b.partition);
        if (list === undefined) byPartition.set(b.partition, [b]);
        else list.push(b);
      }
    }
    const opts = {
      segmentBytes: this.segmentBytes,
      fsync: this.durability === 'fsync',
      io: this.io,
    };
    const ids = [...byPartition.keys()];
    const results = await Promise.allSettled(
      [...byPartition].map(([id, list]) =>
        writePartitionGroup(this.parts[id] as Partition, list, opts),
      ),
    );
    const i = results.findIndex((r) => r.status === 'rejected');
    if (i >= 0) {
      // appends stop until repair(): the next append (or probe) cuts the torn tail first.
      // Partitions whose batches were written keep them (durable, readable): the appends are
      // refused whole, and their retries are duplicates that the aggregator drops
      const p = this.parts[ids[i] as number] as Partition;
      this.failed = storageError(
        `log: append to partition ${p.id}`,
        p.active.path,
        (results[i] as PromiseRejectedResult).reason,
      );
      this.logger.warn(
        { dir: this.dir, partition: p.id, code: this.failed.code, err: this.failed.cause },
        'log: write failed; appends are refused until the disk takes writes again',
      );
      throw this.failed;
    }
  }

  private validateAppend(b: PartitionAppend): void {
    this.partition(b.partition);
    const bad = (field: string, why: string): TallyError =>
      new TallyError('TALLY_BAD_PARAMETER', `append to partition ${b.partition}: ${why}`, {
        field,
        details: { partition: b.partition },
      });
    if (!Number.isSafeInteger(b.count) || b.count < 0) throw bad('count', 'count must be ≥ 0');
    if (!(b.data instanceof Uint8Array)) throw bad('data', 'data must be a Uint8Array');
    if (b.data.byteLength > MAX_BATCH_PAYLOAD_BYTES) throw bad('data', 'data exceeds 4 GiB');
    const framed = countFramedRecords(b.data);
    if (framed !== b.count) {
      throw bad(
        'data',
        framed < 0
          ? 'data is not a sequence of [u32 length][bytes] records'
          : `data holds ${framed} framed records but count is ${b.count}`,
      );
    }
  }

  private partition(partition: number): Partition {
    const p = Number.isInteger(partition) ? this.parts[partition] : undefined;
    if (p === undefined) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `partition ${partition} does not exist (the log has ${this.partitions}: 0–${this.partitions - 1})`,
        { field: 'partition', details: { partition, partitions: this.partitions } },
      );
    }
    return p;
  }

  private assertOpen(): void {
    if (this.closing !== undefined) {
      throw new TallyError('TALLY_UNAVAILABLE', `the log in ${this.dir} is closed`);
    }
  }
}
