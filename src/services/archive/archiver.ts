/**
 * The archiver: closed ranges of the raw log (sealed segments; ranges of the raw topic in the
 * distributed mode) become Parquet files (RawArchive), and then log retention releases what is
 * safe to release. A segment is deleted only when ALL of these hold:
 *
 * 1. it is archived (below RawArchive.archivedUpTo);
 * 2. no aggregator needs it for recovery: every consumer has a snapshot, and the segment lies
 *    below the offsets of that snapshot (recovery replays the log from there; committed
 *    offsets are at or above them). A consumer without a snapshot holds everything;
 * 3. the retention policy lets it go: older than `retainLogMs`, or the log is over its byte
 *    budget `maxLogBytes` (then the oldest safe segments go first, whatever their age).
 *
 * Deletion takes the TailGate exclusively, so a raw query or reconcile reading the tail never
 * sees a segment vanish under it. Every step is idempotent: a crash anywhere leaves either a
 * range not yet in the manifest (archived again, under the same names) or a segment archived
 * but not yet deleted (deleted next time).
 */
import type { AggregateReader, StoreStatus } from '../../ports/aggregate-reader.js';
import type { Clock } from '../../ports/clock.js';
import type { ClosedRange, RawArchive, RawRetention, RawSource } from '../../ports/raw-archive.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { TailGate } from './gate.js';
import { Periodic } from '../periodic.js';

export interface ArchiverOptions {
  source: RawSource & RawRetention;
  archive: RawArchive & { bytes?(): number };
  /** the aggregate store's status: consumers' snapshot offsets bound retention */
  store: Pick<AggregateReader, 'status'>;
  retainLogMs: number;
  maxLogBytes: number;
  clock: Clock;
  logger: Logger;
  gate: TailGate;
  metrics?: Metrics | undefined;
}

export interface ArchiveProgress {
  rangesDone: number;
  rangesTotal: number;
  records: number;
}

export interface ArchiveSummary {
  /** ranges archived by this run, and their records and Parquet bytes */
  ranges: number;
  records: number;
  parquetBytes: number;
  ms: number;
  /** segments deleted by retention, and the bytes freed */
  deletedSegments: number;
  deletedBytes: number;
  logBytes: number;
  /** per partition: archived up to, and the log's start offset after retention */
  partitions: Array<{
    partition: number;
    archivedUpTo: number;
    startOffset: number;
    endOffset: number;
  }>;
  /** why retention kept segments the policy would have dropped, when it did */
  held: string[];
}

/**
 * Per partition, the lowest offset recovery may replay from: the minimum over consumers of
 * their snapshot offsets; the log's start (nothing releasable) when a consumer has no snapshot
 * or no consumer has committed at all.
 */
export function recoveryFloor(
  status: StoreStatus,
  partitions: number,
  startOffset: (p: number) => number,
): number[] {
  const floor = Array.from({ length: partitions }, () => Infinity);
  if (status.consumers.length === 0) return floor.map((_, p) => startOffset(p));
  for (const c of status.consumers) {
    for (let p = 0; p < partitions; p++) {
      const at =
        c.snapshotSeq === 0 ? startOffset(p) : (c.snapshotOffsets.get(p) ?? startOffset(p));
      floor[p] = Math.min(floor[p]!, at);
    }
  }
  return floor;
}

export class Archiver {
  private running: Promise<ArchiveSummary> | undefined;
  private readonly periodic = new Periodic({
    run: () => this.runOnce(),
    onError: (err) => {
      this.o.metrics?.archiveFailures.inc();
      this.o.logger.error({ err }, 'archive: run failed; retrying at the next interval');
    },
    inFlight: () => this.running,
  });

  constructor(private readonly o: ArchiverOptions) {}

  /** Archives every closed range not yet archived, then applies retention. One run at a time. */
  runOnce(onProgress?: (p: ArchiveProgress) => void): Promise<ArchiveSummary> {
    this.running ??= this.run(onProgress).finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(onProgress?: (p: ArchiveProgress) => void): Promise<ArchiveSummary> {
    const started = performance.now();
    const { source, archive, metrics } = this.o;
    const todo: ClosedRange[] = [];
    for (let p = 0; p < source.partitions; p++) {
      const from = Math.max(archive.archivedUpTo(p), source.startOffset(p));
      todo.push(...(await source.closedRanges(p, from)));
    }
    const progress: ArchiveProgress = { rangesDone: 0, rangesTotal: todo.length, records: 0 };
    onProgress?.(progress);
    let pending = todo.reduce((n, r) => n + (r.toOffset - r.fromOffset), 0);
    metrics?.archivePendingRecords.set(pending);
    let parquetBytes = 0;
    for (const r of todo) {
      const t0 = performance.now();
      const done = await archive.archive(r, (from, max) => source.read(r.partition, from, max));
      metrics?.archiveSeconds.observe((performance.now() - t0) / 1000);
      metrics?.archivedRecords.inc(done.records);
      pending -= r.toOffset - r.fromOffset;
      metrics?.archivePendingRecords.set(pending);
      for (const f of done.files) parquetBytes += f.bytes;
      progress.rangesDone++;
      progress.records += done.records;
      onProgress?.(progress);
    }
    const retention = await this.o.gate.exclusive(() => this.retain());
    const summary: ArchiveSummary = {
      ranges: todo.length,
      records: progress.records,
      parquetBytes,
      ms: Math.round(performance.now() - started),
      ...retention,
      logBytes: source.bytes(),
      partitions: Array.from({ length: source.partitions }, (_, p) => ({
        partition: p,
        archivedUpTo: archive.archivedUpTo(p),
        startOffset: source.startOffset(p),
        endOffset: source.endOffset(p),
      })),
    };
    metrics?.logBytes.set(summary.logBytes);
    if (archive.bytes !== undefined) metrics?.archiveBytes.set(archive.bytes());
    if (summary.ranges > 0 || summary.deletedSegments > 0 || summary.held.length > 0) {
      this.o.logger.info(
        {
          ranges: summary.ranges,
          records: summary.records,
          parquetBytes,
          deletedSegments: summary.deletedSegments,
          deletedBytes: summary.deletedBytes,
          logBytes: summary.logBytes,
          held: summary.held,
          ms: summary.ms,
        },
        'archive: closed segments archived, retention applied',
      );
    }
    return summary;
  }

  /** Deletes what is archived, beyond recovery's needs, and due under the policy. */
  private async retain(): Promise<{
    deletedSegments: number;
    deletedBytes: number;
    held: string[];
  }> {
    const { source, archive, clock, retainLogMs, maxLogBytes, metrics } = this.o;
    const floor = recoveryFloor(await this.o.store.status(), source.partitions, (p) =>
      source.startOffset(p),
    );
    const now = clock.now();
    const held: string[] = [];
    let deletedSegments = 0;
    let deletedBytes = 0;
    // per partition, the safe segments (archived and below recovery's floor), oldest first
    const safe: ClosedRange[][] = [];
    for (let p = 0; p < source.partitions; p++) {
      const limit = Math.min(archive.archivedUpTo(p), floor[p]!);
      const closed = await source.closedRanges(p, source.startOffset(p));
      safe.push(closed.filter((r) => r.toOffset <= limit));
    }
    const release = async (p: number, upTo: number, segments: number) => {
      const freed = await source.releaseBefore(p, upTo);
      deletedSegments += segments;
      deletedBytes += freed.bytes;
      metrics?.logDeletedBytes.inc(freed.bytes);
    };
    for (let p = 0; p < source.partitions; p++) {
      const list = safe[p]!;
      let n = 0;
      while (n < list.length && list[n]!.lastWriteTime <= now - retainLogMs) n++;
      if (n > 0) await release(p, list[n - 1]!.toOffset, n);
      safe[p] = list.slice(n);
    }
    if (maxLogBytes > 0 && source.bytes() > maxLogBytes) {
      // the oldest safe segment of any partition goes first, until the log fits its budget
      for (;;) {
        if (source.bytes() <= maxLogBytes) break;
        let best = -1;
        for (let p = 0; p < safe.length; p++) {
          const head = safe[p]![0];
          if (
            head !== undefined &&
            (best < 0 || head.lastWriteTime < safe[best]![0]!.lastWriteTime)
          )
            best = p;
        }
        if (best < 0) break;
        const head = safe[best]!.shift()!;
        await release(best, head.toOffset, 1);
      }
      if (source.bytes() > maxLogBytes) {
        const behind: string[] = [];
        for (let p = 0; p < source.partitions; p++) {
          if (archive.archivedUpTo(p) <= floor[p]!) continue;
          behind.push(
            `partition ${p}: recovery needs offsets from ${floor[p]} (no aggregator snapshot past it yet)`,
          );
        }
        held.push(
          `the log (${source.bytes()} bytes) is over its budget of ${maxLogBytes} bytes: ${
            behind.length > 0
              ? behind.join('; ')
              : 'the rest is not archived yet (the active segments never are)'
          }`,
        );
        this.o.logger.warn(
          { held, logBytes: source.bytes(), maxLogBytes },
          'archive: log over its byte budget',
        );
      }
    }
    return { deletedSegments, deletedBytes, held };
  }

  /** Runs runOnce every `intervalMs` until stop(); failures are logged and retried. */
  start(intervalMs: number): void {
    this.periodic.start(intervalMs);
  }

  /** Stops the timer and waits for a run in flight. */
  async stop(): Promise<void> {
    await this.periodic.stop();
  }
}
