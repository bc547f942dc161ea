/**
 * Opening the Parquet archive beside a log, and the tail a raw read takes from that log: the
 * one place both are put together, for the embedded app, the CLI readers and the benchmarks.
 */
import type { Config } from '../config/index.js';
import { openParquetArchive, type ParquetArchive } from '../adapters/archive-parquet/index.js';
import type { EventLog } from '../ports/event-log.js';
import type { RawArchive, RawTail } from '../ports/raw-archive.js';
import type { Logger } from '../services/observability/logger.js';
import { dataPaths } from './paths.js';

export function openArchive(config: Readonly<Config>, logger: Logger): Promise<ParquetArchive> {
  return openParquetArchive({
    dir: dataPaths(config.dataDir).archive,
    durable: config.log.durability === 'fsync',
    memoryLimitMiB: config.archive.memoryLimitMiB,
    threads: config.archive.threads,
    logger,
  });
}

/** What the archive does not hold yet: per partition, from its archived end to the log's end. */
export function tailOf(log: EventLog, archive: RawArchive): () => RawTail {
  return () => ({
    ranges: Array.from({ length: log.partitions }, (_, p) => ({
      partition: p,
      fromOffset: Math.max(archive.archivedUpTo(p), log.startOffset(p)),
      toOffset: log.endOffset(p),
    })).filter((r) => r.fromOffset < r.toOffset),
    read: (p, from, max) => log.read(p, from, max),
  });
}
